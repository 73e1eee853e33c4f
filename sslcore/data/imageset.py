"""The one in-memory form every dataset loads into (``ImageSet``) and a dataset's registry entry (``DatasetInfo``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class ImageSet:
    images: torch.Tensor                      # uint8, N×C×H×W, C = 3
    labels: torch.Tensor                      # int64, N; -1 where unlabeled
    class_names: list[str]
    factors: dict[str, torch.Tensor] = field(default_factory=dict)      # each int64, N, categorical
    factor_names: dict[str, list[str]] = field(default_factory=dict)    # value names per factor
    name: str = ""
    split: str = "train"
    notices: list[str] = field(default_factory=list)    # said once per load, e.g. which files were skipped

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def subset(self, idx: Any) -> ImageSet:
        """The images at ``idx`` (a slice, a list / array / tensor of indices, or a boolean mask)."""
        if isinstance(idx, slice):
            sel: Any = idx
        else:
            sel = torch.as_tensor(np.asarray(idx) if not isinstance(idx, torch.Tensor) else idx)
            if sel.dtype != torch.bool:
                sel = sel.long().reshape(-1)
        return ImageSet(images=self.images[sel], labels=self.labels[sel], class_names=list(self.class_names),
                        factors={k: v[sel] for k, v in self.factors.items()},
                        factor_names={k: list(v) for k, v in self.factor_names.items()},
                        name=self.name, split=self.split)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    splits: tuple[str, ...]
    has_factors: bool
    embedded: bool              # needs no files
    default_image_size: int
    factors: tuple[str, ...] = ()
