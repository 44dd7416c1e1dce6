"""Make the small example files of examples/ (committed; run again to refresh them).

    .venv/bin/python examples/make_examples.py      # needs the test extras and ffmpeg:
                                                    # make .venv/.installed-test ffmpeg

The files are built by the same generators the test suite uses (tests/support/media.py),
so what the examples show is what the tests check:

    a1111.png          AUTOMATIC1111 `parameters` text chunk: prompt, negative prompt, seed,
                       steps, sampler, CFG, model, a ControlNet input
    comfyui.png        ComfyUI `prompt` (API graph) and `workflow` (editor graph) chunks
    c2pa-signed.jpg    a JPEG with a C2PA manifest (created by "GPT-4o", one ingredient),
                       signed by a throw-away test CA made on the spot (so its signature
                       validates but is not trusted: "Valid", not "Trusted")
    clip.mp4           one second of ffmpeg's test pattern, H.264 (no embedded provenance:
                       the walk-through sends its prompt as a header)
    brief.txt          a text file, which the shipped policy refuses in bucket `renders`
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.support import media  # noqa: E402  (after the path is set)

BRIEF = ("Campaign brief: spring launch.\n"
         "Hero image: a red fox in fresh snow, morning light, 3:2.\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        made = {"a1111.png": media.a1111_png(work).path,
                "comfyui.png": media.comfyui_png(work).path,
                "clip.mp4": media.mp4(work).path}
        ca = media.make_test_ca()
        made["c2pa-signed.jpg"] = media._c2pa_fixture(work, ca, "c2pa-signed", "JPEG",
                                                      "image/jpeg").path
        for name, path in made.items():
            shutil.copyfile(path, HERE / name)
            print(f"wrote examples/{name} ({(HERE / name).stat().st_size} bytes)")
    (HERE / "brief.txt").write_text(BRIEF)
    print("wrote examples/brief.txt")


if __name__ == "__main__":
    main()
