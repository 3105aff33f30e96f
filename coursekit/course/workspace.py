"""The learner's own copies of the exercises: ``my-work/``, which git ignores.

``exercises/`` holds the templates, generated from ``solutions/`` and tracked by git; a
learner who typed answers there would conflict with the next ``git pull``. So ``make lab``
(through ``coursekit workspace``) copies each exercise into the work folder the first time it
appears, and never again: an exercise added to the course later is copied in, one the
learner already has is never touched, even when its template changed. Progress and
``coursekit grade`` default to this folder.

Standard library only, so ``make lab`` answers at once.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..work.layout import OLD_EXERCISE_PREFIX, course_root, work_folder


def copy_exercises(root: Path | None = None) -> list[Path]:
    """Copy every ``exercises/*.ipynb`` the work folder lacks into it; return the new copies.

    A file already in the work folder is never opened for writing: the copy is made under a
    temporary name and linked into place only if the name is still free (so even two copies
    started at once cannot overwrite a learner's file).
    """
    root = (root or course_root()).resolve()
    source, target = root / "exercises", work_folder(root)
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no exercises folder (is {root} the course folder?)")
    target.mkdir(exist_ok=True)
    copied = []
    for template in sorted(source.glob("*.ipynb")):
        mine = target / template.name
        if mine.exists() or _adopt_old_name(mine):
            continue
        if _create_exclusively(template, mine):
            copied.append(mine)
    return copied


def _adopt_old_name(mine: Path) -> bool:
    """Rename the learner's copy under the exercise's old name (``layout.OLD_EXERCISE_PREFIX``) to
    ``mine``; True if it did. It is the learner's work: it takes the new name instead of a fresh
    template appearing beside it."""
    old = mine.with_name(mine.name.removeprefix(OLD_EXERCISE_PREFIX))
    if old == mine or not old.is_file():
        return False
    try:
        mine.hardlink_to(old)  # refuses an existing name: never overwrites
    except FileExistsError:
        return True
    except OSError:  # no hard links here: the old name simply stays in use
        return True
    old.unlink()
    return True


def _create_exclusively(template: Path, mine: Path) -> bool:
    """Put a copy of ``template`` at ``mine`` unless something is there; True if copied."""
    scratch = mine.with_name(f".{mine.name}.copying")
    shutil.copyfile(template, scratch)
    try:
        mine.hardlink_to(scratch)  # atomic, and refuses an existing name
        return True
    except FileExistsError:
        return False  # appeared meanwhile: it is the learner's now
    except OSError:  # a file system without hard links: exclusive create
        try:
            with open(mine, "xb") as f:
                f.write(template.read_bytes())
            return True
        except FileExistsError:
            return False
    finally:
        scratch.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    root = Path(args.course) if args.course else None
    try:
        copied = copy_exercises(root)
    except FileNotFoundError as error:
        print(f"coursekit workspace: {error}")
        return 2
    folder = work_folder((root or course_root()).resolve())
    if copied:
        names = ", ".join(p.name for p in copied)
        print(f"Copied into {folder.name}/ (your own copies; git ignores them): {names}")
    else:
        print(f"Your work folder {folder.name}/ is up to date (your files are never overwritten).")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments to its parser (made by :mod:`coursekit.course.cli`)."""
    parser.add_argument("--course", help="the course folder (default: found from the working directory)")
    parser.set_defaults(func=run)
