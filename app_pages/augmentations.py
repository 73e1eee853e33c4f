"""Augmentations: the two views a method learns from, per-view sliders, and a measured verdict on whether the
augmentation is too weak, useful or too strong."""
import dataclasses

import pandas as pd
import streamlit as st

from lens_ui import classroom, upload
from lens_ui.common import PAGES, asset, guard
from lens_ui.images import tile_row
from lens_ui.text import plain
from sslcore.augment import OPERATIONS, PRESET_SOURCES, PRESETS, RECIPE_FIELDS, TwoViewAugment, view_difference
from sslcore.config import AugmentConfig
from sslcore.data import DATASETS, load_dataset
from sslcore.view_quality import measure

POOL = 512  # images loaded per dataset; the grid shows a random handful of them
SAMPLE = 128  # images the verdict is measured on (fractions move by ±4 % between samples of this size)
MEASURE_SIZE = 32  # px: the training size of shapes / digits / CIFAR; the preview size does not change the verdict
VERDICT_STYLE = {"too weak": (st.warning, "🥱"), "useful": (st.success, "👍"), "strong": (st.info, "👌"),
                 "too strong": (st.error, "🌪️")}

# Slider ranges and help per recipe field (the values are the preset's, before strength).
SLIDERS = {
    "crop_scale_min": (0.02, 1.0, 0.01, "crop: smallest area kept, as a fraction of the image (1 = no crop)"),
    "flip_p": (0.0, 1.0, 0.05, "flip: probability"),
    "jitter_p": (0.0, 1.0, 0.05, "colour jitter: probability"),
    "brightness": (0.0, 1.5, 0.05, "colour jitter: brightness magnitude"),
    "contrast": (0.0, 1.5, 0.05, "colour jitter: contrast magnitude"),
    "saturation": (0.0, 1.5, 0.05, "colour jitter: saturation magnitude"),
    "hue": (0.0, 0.5, 0.01, "colour jitter: hue magnitude"),
    "gray_p": (0.0, 1.0, 0.05, "grayscale: probability"),
    "blur_p": (0.0, 1.0, 0.05, "Gaussian blur: probability"),
    "blur_sigma": (0.0, 5.0, 0.1, "Gaussian blur: largest σ (at 224 px; scaled to the image size)"),
    "solarize_p": (0.0, 1.0, 0.05, "solarize: probability"),
    "rotation": (0.0, 180.0, 5.0, "rotation: largest angle, in degrees either way (180 = any angle)"),
    "shuffle_p": (0.0, 1.0, 0.05, "channel shuffle: probability"),
    "noise_p": (0.0, 1.0, 0.05, "Gaussian noise: probability"),
    "noise_std": (0.0, 0.5, 0.01, "Gaussian noise: standard deviation (pixel values in [0, 1])"),
}
assert set(SLIDERS) == set(RECIPE_FIELDS)
OP_OF_FIELD = {"crop_scale_min": "crop", "flip_p": "flip", "jitter_p": "jitter", "brightness": "jitter",
               "contrast": "jitter", "saturation": "jitter", "hue": "jitter", "gray_p": "gray", "blur_p": "blur",
               "blur_sigma": "blur", "solarize_p": "solarize", "rotation": "rotate",
               "shuffle_p": "shuffle", "noise_p": "noise", "noise_std": "noise"}


@st.cache_resource(show_spinner="Loading images…", max_entries=8)
def _pool(dataset: str, image_size: int, root: str | None = None):
    size = POOL if DATASETS[dataset].embedded else None
    ds = load_dataset(dataset, "train", root=root, image_size=image_size, size=size)
    if len(ds) > POOL:
        ds = ds.subset(slice(0, POOL))
    return ds


@st.cache_data(max_entries=64, show_spinner="Measuring the views…")
def _quality(dataset: str, preset: str, strength: float, overrides: tuple, view_seed: int,
             root: str | None = None) -> dict:
    """The verdict of ``sslcore.view_quality`` on a fixed sample of the dataset at the training size."""
    import torch

    pool = _pool(dataset, MEASURE_SIZE, root)
    sample = pool.images[torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))[:SAMPLE]]
    return dataclasses.asdict(measure(TwoViewAugment(preset, MEASURE_SIZE, strength, dict(overrides)), sample,
                                      seed=view_seed))


def _how_views_differ(v1, v2) -> str:
    """One sentence naming the recipe fields in which view 1 and view 2 differ (empty when they are the same)."""
    diffs = [f"{name} {getattr(v1, name):g} vs {getattr(v2, name):g}" for name in RECIPE_FIELDS
             if abs(getattr(v1, name) - getattr(v2, name)) > 1e-9]
    if not diffs:
        return ""
    return ("**Why view 1 and view 2 look different:** they come from two recipes (" + ", ".join(diffs) + "). "
            "If both views were blurred — or both sharp — together, *how blurry it is* would be something they "
            "agree on for free; making them systematically different leaves the image's content as the only "
            "thing they reliably share.")


def _slider_key(preset: str, view: int, name: str) -> str:
    return f"aug.{preset}.view{view}.{name}"


def _reset(preset: str) -> None:
    for view in (1, 2):
        for name in RECIPE_FIELDS:
            st.session_state.pop(_slider_key(preset, view, name), None)


def _bump(key: str) -> None:
    st.session_state[key] = st.session_state.get(key, 0) + 1


st.title("🎨 Augmentations")
st.caption("The two views a self-supervised method compares. Change the sliders and watch both rows; nothing is "
           "trained here, so everything is instant.")
with st.expander("What each operation does, and why Barlow Twins uses asymmetric blur and solarize"):
    st.markdown(asset("augmentations.md"))

c1, c2, c3, c4, c5 = st.columns([1.1, 1.3, 1.4, 0.9, 0.9])
if classroom.on():  # datasets by name only; the server maps a name to its files (lens_ui/classroom.py)
    sources = classroom.data_sources()
    source = sources[c1.selectbox("Dataset", list(sources), key="aug.class_dataset")]
    dataset = source.dataset
else:
    dataset = c1.selectbox("Dataset", list(DATASETS), key="aug.dataset",
                           help="shapes and digits are built in; cifar10 / stl10 / folder need files (see Train)")
preset = c2.selectbox("Preset", list(PRESETS), index=list(PRESETS).index(AugmentConfig().preset), key="aug.preset",
                      help="which recipe pair to start from (it opens on the default run's)")
strength = c3.slider("Strength", 0.0, 3.0, 1.0, 0.05, key="aug.strength",
                     help="multiplies every probability and magnitude (0 = no augmentation, 1 = the preset)")
count = c4.select_slider("Images", [8, 12, 16], value=8, key="aug.count")
size = c5.selectbox("Image size", [32, 64, 96], index=1, key="aug.size",
                    help="preview size in pixels; training on shapes uses 32 by default")
st.caption(f"**{preset}** — {PRESET_SOURCES[preset]}")
if classroom.on():
    root = source.root
else:
    root = upload.folder_picker("aug.upload", typed_path=False) if dataset == "folder" else None   # your own images
if dataset == "folder" and root is None:
    st.info("Upload your images above (a .zip or a folder of `<class>/<image>` files) to see their views.")
    st.stop()

b1, b2, b3, b4, b5 = st.columns([1, 1, 1, 1.1, 1.6], vertical_alignment="center")
b1.button("🎲 Redraw the views", on_click=_bump, args=("aug.view_seed",), width="stretch", key="aug.redraw",
          help="new random augmentations of the same images")
b2.button("🖼️ Other images", on_click=_bump, args=("aug.image_seed",), width="stretch", key="aug.other")
b3.button("↩️ Reset sliders", on_click=_reset, args=(preset,), width="stretch", key="aug.reset",
          help=f"back to the {preset} preset's values")
large = b4.toggle("Large thumbnails", key="aug.large",
                  help="for a projector: the views use the whole page width and the verdict moves below them")

# ---- per-view sliders: the preset's raw values, before strength ----
recipes = PRESETS[preset]
overrides: dict[str, float] = {}
with st.expander("Fine-tune each operation, separately for view 1 and view 2", expanded=False):
    cols = st.columns(2)
    for view, col in zip((1, 2), cols):
        with col:
            st.markdown(f"**View {view}**")
            default = recipes[view - 1]
            inner = st.columns(2)
            for i, name in enumerate(RECIPE_FIELDS):
                lo, hi, step, help_ = SLIDERS[name]
                value = inner[i % 2].slider(f"{name}", lo, hi, float(getattr(default, name)), step,
                                            key=_slider_key(preset, view, name), help=help_)
                if abs(value - getattr(default, name)) > 1e-9:
                    overrides[f"view{view}.{name}"] = float(value)
if overrides:
    st.caption("Changed from the preset: " + ", ".join(f"`{k}={v:g}`" for k, v in overrides.items()))

with guard("Drawing the views"):
    pool = _pool(dataset, size, root)
    image_seed = st.session_state.get("aug.image_seed", 0)
    view_seed = st.session_state.get("aug.view_seed", 0)
    import torch

    g = torch.Generator().manual_seed(1000 + image_seed)
    idx = torch.randperm(len(pool), generator=g)[:count]
    images = pool.images[idx]
    augment = TwoViewAugment(preset, size, strength, overrides)
    view1, view2 = augment(images, seed=view_seed, normalize=False)
    diff = view_difference(view1, view2, augment.last_applied)

    tile = 96 if count <= 8 else 72 if count <= 12 else 56
    if large:
        tile, (grid, side) = tile * 2, (st.container(), st.container())
    else:
        grid, side = st.columns([3, 1])
    with grid:
        names = [pool.class_names[int(y)] if int(y) >= 0 else "?" for y in pool.labels[idx]]
        st.caption("Original — " + plain(" · ".join(names)))   # class names are folder names: user text
        st.image(tile_row(images, tile=tile), clamp=True)
        st.caption("View 1")
        st.image(tile_row(view1, tile=tile), clamp=True)
        st.caption("View 2")
        st.image(tile_row(view2, tile=tile), clamp=True)
        why = _how_views_differ(*augment.recipes)
        if why:
            st.markdown(why)
    with side:
        q = _quality(dataset, preset, round(float(strength), 2), tuple(sorted(overrides.items())), view_seed,
                     root)
        show, icon = VERDICT_STYLE[q["verdict"]]
        show(f"**{q['verdict'].capitalize()}** — {q['reason']}.", icon=icon)
        m1, m2 = st.columns(2)
        m1.metric("Object kept", "—" if q["object_kept"] is None else f"{q['object_kept']:.0%}",
                  help="share of views in which at least half of the object is inside the view and it still "
                       "stands out from its background (the object is estimated as the pixels that differ from the "
                       "image's border)")
        m2.metric("Shortcut", f"{q['shortcut']:.0%}",
                  help=f"share of pairs whose partner view a matcher using only colours or raw pixels finds among "
                       f"{q['images']} images (chance {1 / q['images']:.1%})")
        st.metric("How different are the views?", f"{diff['mean_pixel_distance']:.3f}",
                  help="mean absolute pixel difference between view 1 and view 2 (0 = identical, 1 = opposite)")
        st.caption(f"Measured on {q['images']} images of {plain(dataset)} at {MEASURE_SIZE} px with these settings: "
                   "*too weak* when colours or pixels find the partner in ≥ 40 % of pairs, *too strong* when fewer "
                   "than 60 % of views keep the object, *strong* below 80 %.")
        rows = []
        for op in OPERATIONS:
            rows.append({"operation": op, "view 1": diff.get(f"view1.{op}", 0.0),
                         "view 2": diff.get(f"view2.{op}", 0.0)})
        rows.append({"operation": "crop area", "view 1": diff.get("view1.crop_area", 1.0),
                     "view 2": diff.get("view2.crop_area", 1.0)})
        st.dataframe(pd.DataFrame(rows).set_index("operation"), width="stretch",
                     column_config={"view 1": st.column_config.NumberColumn(format="%.2f"),
                                    "view 2": st.column_config.NumberColumn(format="%.2f")})
        st.caption("Fraction of these images each operation touched, and the mean crop area kept.")

    with st.expander("Effective recipe after strength"):
        eff = pd.DataFrame({f"view {i + 1}": [getattr(r, f) for f in RECIPE_FIELDS]
                            for i, r in enumerate(augment.recipes)}, index=list(RECIPE_FIELDS))
        st.dataframe(eff, width="stretch")
        st.caption(" · ".join(f"**{op}**: {text}" for op, text in OPERATIONS.items()))

if b5.button("🏋️ Train with these augmentations", width="stretch", key="aug.to_train",
             help="opens the Train page with this preset, strength and your slider changes"):
    st.session_state["train.from_augment"] = {"augment": preset, "strength": round(float(strength), 2),
                                              "overrides": dict(overrides)}
    st.switch_page(PAGES["train"])
