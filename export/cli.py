"""`spectrascope export`: a view of a run over its epochs as a video (GIF, MP4), one standalone HTML page that
plays it, or one PNG per epoch."""
from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext

from export import output
from spectrascope import command

HELP = "export a view of a run over its epochs: a GIF or MP4 video, a standalone HTML animation, or PNG images"
VIEWS = ("histogram", "esd", "alpha", "grid")  # each a function of export.views
ONE_LAYER_VIEWS = ("histogram", "esd")
FORMATS = ("gif", "mp4", "html", "png")
VIEW_HELP = ("histogram: a layer's weights (or --biases) on the run's fixed bins; esd: a layer's eigenvalue "
             "density with its fitted power law; alpha: the epoch x layer alpha heatmap filling in; grid: every "
             "analysed layer's ESD side by side")


def _fps(text: str) -> float:
    value = float(text)
    if not 0.1 <= value <= 60:
        raise argparse.ArgumentTypeError(f"{text} is not between 0.1 and 60 frames a second")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command.add_run_id(parser, "the run to export")
    parser.add_argument("--view", required=True, choices=VIEWS, help=VIEW_HELP)
    parser.add_argument("--layer", help="the layer to show (histogram, esd): its module path, e.g. layer1.0.conv1 "
                                        "(default: the one the dashboard opens on)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--weights", dest="kind", action="store_const", const="weight",
                      help="histogram of the layer's weights (the default)")
    kind.add_argument("--biases", dest="kind", action="store_const", const="bias", help="histogram of its biases")
    parser.set_defaults(kind="weight")
    parser.add_argument("--epochs", metavar="A:B", help="the first and last epoch to show, both included; either "
                                                        "may be left out (default: every analysed epoch)")
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="gif, mp4 (H.264), html (one standalone page with play/pause and a slider), "
                             "png (one image per epoch into the folder --out)")
    output.add_destination(parser, "the file to write; for png, a new or empty folder")
    parser.add_argument("--fps", type=_fps, default=4.0, help="epochs a second when played (default 4)")


def run(args: argparse.Namespace) -> int:
    from export import encode, frames, load, recording, render, views  # here: plotly and pandas, 0.5 s
    from spectrascope.runs import read_run
    from spectrascope.wording import counted

    paths = load.open_run(args.data_dir, args.run_id)
    out = output.destination(args, paths)
    layer = _layer(paths, args)
    drawing = render.Renderer() if args.format != "html" else nullcontext()  # Chromium starts now, meanwhile
    with recording.recorder(paths, "export", args.to_run) as progress, drawing as renderer:
        epochs, figures = getattr(views, args.view)(paths, layer, args.kind, load.parse_epochs(args.epochs))
        output.check(out, folder=args.format == "png", fmt=args.format)
        if args.format == "html":
            page = frames.animated(figures, epochs, args.fps, read_run(paths).unit).to_html(
                include_plotlyjs=True, full_html=True, auto_play=False, config={"displaylogo": False})
            output.write_file(out, page.encode())
        else:
            images = renderer.png_frames(figures, progress)
            if args.format == "png":
                output.write_folder(out, {f"epoch_{epoch:04d}.png": image for epoch, image in zip(epochs, images)})
            else:
                output.write_file(out, (encode.gif if args.format == "gif" else encode.mp4)(images, args.fps))
        progress(len(epochs), len(epochs))
    unit = read_run(paths).unit
    print(f"wrote {out}: {counted(len(epochs), 'frame')}, {unit}s {epochs[0]} to {epochs[-1]}")
    return 0


def _layer(paths, args: argparse.Namespace) -> str | None:
    """--layer, or for a one-layer view without it the layer the dashboard opens on, named on stderr so the
    user knows what the file shows."""
    from export import load

    if args.layer is not None or args.view not in ONE_LAYER_VIEWS:
        return args.layer
    layer = load.opening_layer(paths, args.view, args.kind)
    if layer is not None:
        print(f"spectrascope: no --layer given: showing {layer}, the layer the dashboard opens on", file=sys.stderr)
    return layer
