"""Your own images from the browser: upload a .zip or a folder of an ImageFolder tree, pick it, delete it.

The engine (``sslcore.data.uploads``) does the checking and storing; this module only draws it. The browser sends
files and a dataset NAME, never a path: a picked name is resolved to its folder here, on the server. Used by the
Augmentations and Train pages when their dataset is ``folder``.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from lens_ui import classroom
from lens_ui.common import runs_dir
from lens_ui.text import plain
from sslcore.data import IMAGE_EXTENSIONS
from sslcore.data.uploads import (UploadLimits, delete_uploaded, list_uploaded, resolve_uploaded, save_upload,
                                  uploads_dir)
from sslcore.errors import ConfigError

TYPED = "a folder on this computer (Data folder)"      # the picker's last option outside classroom mode


@st.cache_data(max_entries=8, show_spinner=False)
def _listed(root: str, stamp: float) -> list[dict]:
    return list_uploaded(root)


def uploaded() -> dict[str, dict]:
    """The uploaded datasets by name; listed again only when ``datasets/`` changes (a page reruns on every click,
    and listing walks every file)."""
    base = uploads_dir(runs_dir())
    return {row["name"]: row for row in _listed(str(runs_dir()), base.stat().st_mtime if base.is_dir() else 0.0)}


def folder_picker(key: str, *, typed_path: bool = True) -> str | None:
    """A picker of the uploaded datasets with an upload box and a delete button beneath it. Returns the picked
    dataset's folder (on the server), or None when the user picks a folder typed as a path (``typed_path``)."""
    datasets = uploaded()
    options = list(datasets) + ([TYPED] if typed_path and not classroom.on() else [])
    pending = st.session_state.pop(f"{key}.just_uploaded", None)
    if pending in datasets:
        st.session_state[f"{key}.pick"] = pending
    if st.session_state.get(f"{key}.pick") not in options:
        st.session_state.pop(f"{key}.pick", None)
    picked = st.selectbox("Your images", options, key=f"{key}.pick", placeholder="upload a dataset below",
                          format_func=lambda n: n if n == TYPED else f"{n} — {datasets[n]['images']} images, "
                                                                     f"{len(datasets[n]['classes'])} classes",
                          help="datasets uploaded from this app, stored in the runs folder")
    upload_box(key)
    if picked is None or picked == TYPED:
        return None
    row = datasets[picked]
    st.caption(plain(f"{picked}: classes {', '.join(row['classes']) or '—'}; {row['layout']}; {row['mb']} MB"))
    if not classroom.on() or classroom.is_teacher():
        _delete_button(key, picked)
    try:
        return str(resolve_uploaded(runs_dir(), picked))
    except ConfigError as e:
        st.error(plain(str(e)))
        return None


def upload_box(key: str) -> None:
    """The upload expander alone (classroom mode: the page picks datasets by name itself)."""
    limits = UploadLimits.from_env()
    with st.expander("⬆️ Upload your images", expanded=not uploaded()):
        st.caption(f"A .zip of an image folder, or the folder itself: `<class>/<image>` (80/20 split), or "
                   f"`train/<class>/…` with `val/<class>/…`. Images: {', '.join(IMAGE_EXTENSIONS)}. At most "
                   f"{limits.max_mb:,} MB and {limits.max_files:,} files.")
        kind = st.radio("What to upload", ["a .zip file", "a folder"], horizontal=True, key=f"{key}.kind")
        if kind == "a .zip file":
            files = st.file_uploader("Zip of an image folder", type=["zip"], key=f"{key}.zip",
                                     max_upload_size=limits.max_mb)
            files = [files] if files is not None else []
        else:
            files = st.file_uploader("Image folder", type=[e.lstrip(".") for e in IMAGE_EXTENSIONS],
                                     accept_multiple_files="directory", key=f"{key}.folder",
                                     max_upload_size=limits.max_mb) or []
        guess = Path(files[0].name).parts[0] if files else ""
        guess = Path(guess).stem if guess.lower().endswith(".zip") else guess
        name = st.text_input("Dataset name", value="", key=f"{key}.name", placeholder=guess or "e.g. insects",
                             max_chars=64, help="letters, digits, '_', '-', '.'; how you pick it everywhere")
        if st.button("Store as a dataset", key=f"{key}.save", disabled=not files, type="primary"):
            bar = st.progress(0.0, text="unpacking…")
            try:
                saved = save_upload(runs_dir(), name.strip() or guess, [(f.name, f) for f in files],
                                    limits=limits, progress=lambda x, what: bar.progress(min(x, 1.0), text=what))
            except ConfigError as e:
                bar.empty()
                st.error(plain(str(e)), icon="⚠️")
                return
            st.session_state[f"{key}.just_uploaded"] = saved["name"]
            st.session_state[f"{key}.saved"] = saved
            st.rerun()
        saved = st.session_state.pop(f"{key}.saved", None)
        if saved:
            st.success(plain(f"Stored {saved['name']}: {saved['images']} images in "
                             f"{len(saved['classes'])} classes."), icon="✅")
            for notice in saved["notices"]:
                st.info(plain(notice))


def _delete_button(key: str, name: str) -> None:
    c1, c2 = st.columns([3, 1], vertical_alignment="center")
    sure = c1.checkbox(f"Delete {name} and its images from the server", key=f"{key}.sure_{name}")
    if c2.button("🗑️ Delete", key=f"{key}.delete", disabled=not sure):
        try:
            delete_uploaded(runs_dir(), name)
        except ConfigError as e:
            st.error(plain(str(e)))
            return
        st.session_state.pop(f"{key}.pick", None)
        st.rerun()


def batch_notice(root: str | None, batch_size: int, train_size: int | None = None) -> None:
    """Say before launching what the trainer will: a default batch larger than the training set is lowered."""
    from sslcore.data.batching import fit_batch_size
    from sslcore.data.folders import list_folder

    try:
        n = len(list_folder(root, "train")[0])
        _, notice = fit_batch_size(int(batch_size), min(n, train_size or n), explicit=False)
    except (ConfigError, TypeError, ValueError):
        return                                   # the form's own validation reports a bad folder or batch
    if notice:
        st.info(plain(notice), icon="ℹ️")
