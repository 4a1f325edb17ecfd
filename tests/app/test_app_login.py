"""Login for a team (SPECTRASCOPE_USERS), the users file and `spectrascope user add`, and /health."""
from __future__ import annotations

import base64
import stat

import pytest

from app import auth, delete_run, jobs_panel, shell
from app.factory import create_app
from helpers import free_port, spectrascope
from spectrascope.errors import UserError
from spectrascope.users import add_user, authenticate, read_users

PASSWORD = "correct horse"


def basic(name: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


@pytest.fixture
def users_file(tmp_path, monkeypatch):
    path = tmp_path / "secrets" / "users"
    add_user(path, "rita", PASSWORD, "runner")
    add_user(path, "vic", PASSWORD, "viewer")
    monkeypatch.setenv("SPECTRASCOPE_USERS", str(path))
    return path


@pytest.fixture
def app(dashboard_data, users_file):
    return create_app()


# --- the users file ------------------------------------------------------------------------------


def test_the_users_file_holds_bcrypt_hashes_only_readable_by_its_owner(users_file):
    text = users_file.read_text()
    assert PASSWORD not in text and text.count("$2b$") == 2
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    users = read_users(users_file)
    assert authenticate(users, "rita", PASSWORD).role == "runner"
    assert authenticate(users, "rita", "wrong horse") is None and authenticate(users, "nobody", PASSWORD) is None
    assert add_user(users_file, "vic", "another password", "runner") is True  # replaced, the others kept
    users = read_users(users_file)
    assert set(users) == {"rita", "vic"} and users["vic"].role == "runner"
    assert authenticate(users, "vic", PASSWORD) is None and authenticate(users, "vic", "another password")


@pytest.mark.parametrize("line", ["rita:$2b$12$abc", "rita:$2b$12$abc:admin", "ri ta:$2b$12$abc:viewer"])
def test_a_malformed_users_file_names_the_line(tmp_path, line):
    path = tmp_path / "users"
    path.write_text(f"# team\n\n{line}\n")
    with pytest.raises(UserError, match=r"line 3: expected NAME:HASH:ROLE"):
        read_users(path)


def user_add(path, name: str, *flags: str, password: str = PASSWORD, env: dict | None = None):
    """`spectrascope user add NAME FLAGS --users-file PATH`, the password piped in."""
    return spectrascope("user", "add", name, *flags, *(("--users-file", path) if path else ()), "--password-stdin",
                        input=f"{password}\n", env=env)


def test_user_add_from_the_command_line(tmp_path):
    path = tmp_path / "users"
    added = user_add(path, "ana", "--role", "runner")
    assert added.returncode == 0, added.stderr
    assert "added runner 'ana'" in added.stdout and authenticate(read_users(path), "ana", PASSWORD).may_run_jobs
    short = user_add(path, "bo", password="short")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr and "bo" not in read_users(path)
    nowhere = user_add(None, "bo", env={"SPECTRASCOPE_USERS": ""})
    assert nowhere.returncode == 2 and "set $SPECTRASCOPE_USERS or give --users-file" in nowhere.stderr


# --- login on every request ----------------------------------------------------------------------


def test_pages_assets_and_callbacks_need_a_login_and_health_does_not(app):
    client = app.server.test_client()
    script = next(tag for tag in client.get("/", headers=basic("vic", PASSWORD)).get_data(as_text=True).split('"')
                  if tag.startswith("/_dash-component-suites/"))
    callback = {"output": "training-curves.figure", "outputs": {"id": "training-curves", "property": "figure"},
                "inputs": [{"id": "run-picker", "property": "value", "value": "demo"},
                           {"id": "run-version", "property": "data", "value": None},
                           {"id": "tabs", "property": "active_tab", "value": "training"}],
                "changedPropIds": ["run-picker.value"], "state": []}
    for headers in ({}, basic("vic", "wrong horse"), basic("mallory", PASSWORD)):
        for response in (client.get("/", headers=headers), client.get("/_dash-layout", headers=headers),
                         client.get(script, headers=headers),
                         client.post("/_dash-update-component", json=callback, headers=headers)):
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"].startswith('Basic realm="spectrascope"')
    assert client.get("/health").status_code == 200
    assert client.get(script, headers=basic("vic", PASSWORD)).status_code == 200
    answer = client.post("/_dash-update-component", json=callback, headers=basic("vic", PASSWORD))
    assert answer.status_code == 200 and "training-curves" in answer.get_json()["response"]


def test_an_unreadable_users_file_keeps_the_page_shut_and_health_says_so(app, users_file):
    users_file.write_text("rita:not-a-line\n")
    client = app.server.test_client()
    response = client.get("/", headers=basic("rita", PASSWORD))
    assert response.status_code == 503 and "users file cannot be read" in response.get_data(as_text=True)
    health = client.get("/health")
    assert health.status_code == 503 and "spectrascope user add" in health.get_json()["login"]


def test_duplicate_users_too_long_passwords_and_foreign_hashes_are_refused(users_file, tmp_path):
    with pytest.raises(UserError, match="at most 72 bytes"):
        add_user(users_file, "long", "x" * 73, "viewer")
    twice = tmp_path / "twice"
    twice.write_text(users_file.read_text() + users_file.read_text().splitlines()[0] + "\n")
    with pytest.raises(UserError, match="line 3: 'rita' is there twice"):
        read_users(twice)
    foreign = tmp_path / "foreign"
    foreign.write_text("ana:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=:viewer\n")  # htpasswd's SHA-1: not accepted
    with pytest.raises(UserError, match="line 1: expected NAME:HASH:ROLE"):
        read_users(foreign)


def test_argon2_hashes_log_in_as_bcrypt_ones_do(tmp_path):
    path = tmp_path / "users"
    added = user_add(path, "ana", "--hash", "argon2")
    assert added.returncode == 0, added.stderr
    assert path.read_text().startswith("ana:$argon2id$")
    users = read_users(path)
    assert authenticate(users, "ana", PASSWORD) and authenticate(users, "ana", "wrong horse") is None


def _component(node, component_id: str) -> dict | None:
    """The component `component_id` in a layout as /_dash-layout sends it."""
    if isinstance(node, list):
        return next((found for child in node if (found := _component(child, component_id))), None)
    if not isinstance(node, dict):
        return None
    props = node.get("props", {})
    return node if props.get("id") == component_id else _component(props.get("children"), component_id)


def _job_buttons_hidden(client, headers) -> bool:
    buttons = _component(client.get("/_dash-layout", headers=headers).get_json(), shell.JOB_BUTTONS)
    assert "new-run-open" in str(buttons)
    return "d-none" in buttons["props"]["className"].split()


def test_a_viewer_sees_no_job_buttons_and_every_job_callback_refuses_them(app, dashboard_data):
    client = app.server.test_client()
    assert _job_buttons_hidden(client, basic("vic", PASSWORD))
    assert not _job_buttons_hidden(client, basic("rita", PASSWORD))
    assert "vic · viewer" in str(client.get("/_dash-layout", headers=basic("vic", PASSWORD)).get_json())
    with app.server.test_request_context(headers=basic("vic", PASSWORD)):
        assert auth.require_login() is None
        assert jobs_panel.submit_new_run(1, "demo", "new-run")[1] == auth.VIEWER_REFUSAL
        assert jobs_panel.submit_analysis(1, "demo", "fast", False)[1] == auth.VIEWER_REFUSAL
        assert delete_run.confirm_delete(1, "demo")[1] == auth.VIEWER_REFUSAL
    assert (dashboard_data / "runs" / "demo").is_dir() and not (dashboard_data / "runs" / "new-run").exists()
    with app.server.test_request_context(headers=basic("rita", PASSWORD)):
        assert auth.require_login() is None
        assert delete_run.confirm_delete(1, "demo")[0] is False  # a runner's delete goes through
    assert not (dashboard_data / "runs" / "demo").exists()


def test_serve_refuses_other_machines_without_login(tmp_path, users_file):
    port = free_port()
    opened = spectrascope("serve", "--data-dir", tmp_path, "--host", "0.0.0.0", "--port", port,
                          env={"SPECTRASCOPE_USERS": ""})
    assert opened.returncode == 2 and "set $SPECTRASCOPE_USERS" in opened.stderr and "--no-login" in opened.stderr
    users_file.write_text("rita\n")
    broken = spectrascope("serve", "--data-dir", tmp_path, "--port", port, env={"SPECTRASCOPE_USERS": str(users_file)})
    assert broken.returncode == 2 and "line 1: expected NAME:HASH:ROLE" in broken.stderr


# --- /health -------------------------------------------------------------------------------------


def test_health_reports_the_data_dir_and_redis(dashboard_data, monkeypatch, redis_url):
    client = create_app().server.test_client()
    body = client.get("/health").get_json()
    assert body["status"] == "ok" and body["data_dir"] == "writable" and body["redis"] == "not configured"
    assert body["login"] == "off"
    assert body["version"]
    monkeypatch.setenv("SPECTRASCOPE_DATA_DIR", str(dashboard_data / "gone"))
    gone = client.get("/health")
    assert gone.status_code == 503 and "not writable" in gone.get_json()["data_dir"]
    monkeypatch.setenv("SPECTRASCOPE_DATA_DIR", str(dashboard_data))
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert client.get("/health").get_json()["redis"] == "reachable"
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    down = client.get("/health")
    assert down.status_code == 503 and down.get_json()["redis"].startswith("Redis does not answer")
    assert down.get_json()["data_dir"] == "writable"
