"""Training data as whole uint8 tensors: Fashion-MNIST and MNIST from their IDX files, CIFAR-10
through torchvision, or an image folder (one sub-folder per class).

Images stay uint8 (N, C, H, W) in memory; `Batches` moves each batch to the training device
and resizes, augments and normalises it there, batched, never per image in Python.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812

from ..errors import CnnError

IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
DEBIAN_PACKAGES = {"fashion-mnist": "dataset-fashion-mnist", "mnist": "dataset-mnist"}
# class names by label, as torchvision's readers name them
CLASS_NAMES = {"fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                                 "Bag", "Ankle boot"),
               "mnist": ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
                         "7 - seven", "8 - eight", "9 - nine")}
# downloads go through torchvision's readers (mirrors and MD5 sums are theirs)
TORCHVISION_READERS = {"fashion-mnist": "FashionMNIST", "mnist": "MNIST"}


@dataclass
class Dataset:
    """A whole dataset in memory: `images` uint8 (N, C, H, W), `labels` int64 (N,), `classes` the number of
    classes, `class_names` their names by label (empty where unknown)."""

    name: str
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    classes: int
    class_names: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image's shape per sample, (C, H, W)."""
        return tuple(self.images.shape[1:])


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file (LeCun's MNIST format, optionally gzipped) as a uint8 tensor."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        zero, dtype, ndim = struct.unpack(">HBB", data[:4])
        dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    except (OSError, EOFError, struct.error, gzip.BadGzipFile) as exc:
        raise CnnError(f"cannot read IDX file '{path}': {exc}") from None
    count = 1
    for d in dims:
        count *= d
    if zero != 0 or dtype != 0x08 or len(data) != 4 + 4 * ndim + count:
        raise CnnError(f"'{path}' is not a valid uint8 IDX file (corrupt or truncated)")
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def _package_files(package: str) -> list[Path]:
    """The files a Debian package installed, from dpkg's own list."""
    listing = Path(f"/var/lib/dpkg/info/{package}.list")
    if listing.exists():
        return [Path(line) for line in listing.read_text().split("\n") if line]
    if shutil.which("dpkg"):
        out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
        if out.returncode == 0:
            return [Path(line) for line in out.stdout.split("\n") if line]
    return []


def _cache(name: str) -> Path:
    root = os.environ.get("CNNDSL_DATA") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cnndsl"
    return Path(root) / name


def _idx_in(directory: Path) -> dict[str, Path]:
    """The four IDX files in one folder (plain or gzipped), or {} when any is missing."""
    found = {}
    for stem in (*IDX_FILES["train"], *IDX_FILES["test"]):
        for suffix in ("", ".gz"):
            if (directory / (stem + suffix)).is_file():
                found[stem] = directory / (stem + suffix)
    return found if len(found) == 4 else {}


def _find_idx(name: str) -> tuple[dict[str, Path], list[str]]:
    """IDX files of `name`: in $CNNDSL_DATA or the cache (also where torchvision's reader put
    them), then the Debian package's files."""
    looked = []
    candidates = [_cache(name), _cache(name) / TORCHVISION_READERS[name] / "raw"]
    package = DEBIAN_PACKAGES[name]
    files = _package_files(package)
    candidates += sorted({p.parent for p in files if p.name.startswith("train-images-idx3")})
    for directory in candidates:
        looked.append(str(directory))
        found = _idx_in(directory)
        if found:
            return found, looked
    looked.append(f"the files of the Debian package {package}" + ("" if files else " (not installed)"))
    return {}, looked


def _download(name: str) -> dict[str, Path]:
    """Download by torchvision's MNIST readers, which check each file's published MD5 sum
    (Fashion-MNIST's only mirror is plain http, so the sum is what makes it safe)."""
    import torchvision

    reader = TORCHVISION_READERS[name]
    root = _cache(name)
    try:
        dataset = getattr(torchvision.datasets, reader)(str(root), train=True, download=True)
    except RuntimeError as exc:  # torchvision: a failed download or a wrong checksum
        raise OSError(" ".join(str(exc).split())) from None
    found = _idx_in(Path(dataset.raw_folder))
    if not found:
        raise OSError(f"torchvision's {reader} left no IDX files in {dataset.raw_folder}")
    return found


def load_idx_dataset(name: str, split: str, download: bool = True) -> Dataset:
    """`split` ("train" or "test") of `name` (fashion-mnist or mnist) from its four IDX files: in
    $CNNDSL_DATA or the cache, else the Debian package's files, else downloaded by torchvision when
    `download` (without it the files must be there). Images uint8 (N, 1, H, W) as the files give them,
    10 classes. Raises CnnError when the files cannot be found or downloaded, or are corrupt or disagree
    in count."""
    files, looked = _find_idx(name)
    hint = (f"install it: sudo apt-get install {DEBIAN_PACKAGES[name]}, or put the four IDX files in "
            f"{_cache(name)} (or $CNNDSL_DATA/{name})")
    if not files and not download:
        raise CnnError(f"cannot find {name}: looked in {', '.join(looked)}", hint=hint)
    if not files:
        try:
            files = _download(name)
        except OSError as exc:
            raise CnnError(f"cannot find {name}: looked in {', '.join(looked)}; downloading failed ({exc})",
                           hint=hint) from None
    images_stem, labels_stem = IDX_FILES[split]
    images, labels = read_idx(files[images_stem]), read_idx(files[labels_stem])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise CnnError(f"{name} {split}: {len(images)} images but {len(labels)} labels")
    return Dataset(name, images.unsqueeze(1).contiguous(), labels.long(), 10, CLASS_NAMES[name])


def load_cifar10(split: str) -> Dataset:
    """CIFAR-10's `split` ("train", else the test set) through torchvision, downloaded into the cache when
    missing: images uint8 (N, 3, 32, 32), 10 classes. CnnError when it can be neither found nor
    downloaded."""
    import torchvision

    root = _cache("cifar10")
    try:
        ds = torchvision.datasets.CIFAR10(str(root), train=split == "train", download=True)
    except (OSError, RuntimeError) as exc:
        raise CnnError(f"cannot find or download CIFAR-10 in {root}: {exc}",
                       hint=f"put cifar-10-python.tar.gz or its extracted folder in {root}") from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return Dataset("cifar10", images, torch.tensor(ds.targets), 10, tuple(ds.classes))


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def load_folder(root: Path, size: tuple[int, int], channels: int) -> tuple[Dataset, Dataset]:
    """An image folder (ImageFolder layout); `train/` and `test/` sub-folders if present,
    else the last tenth of each class is the test set. Images are resized once, on load."""
    import torchvision.io as io

    if not root.is_dir():
        raise CnnError(f"data directory '{root}' does not exist")
    splits = [root / "train", root / "test"] if (root / "train").is_dir() and (root / "test").is_dir() else [root]
    classes = sorted(p.name for p in splits[0].iterdir() if p.is_dir())
    if not classes:
        raise CnnError(f"no class folders in '{splits[0]}'", hint="the layout is DIR/CLASS/IMAGE.png")
    mode = io.ImageReadMode.GRAY if channels == 1 else io.ImageReadMode.RGB
    loaded = []
    for split in splits:
        images, labels = [], []
        for label, cls in enumerate(classes):
            for path in sorted((split / cls).glob("*")):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    try:
                        image = io.decode_image(str(path), mode=mode)
                    except RuntimeError as exc:
                        raise CnnError(f"cannot decode image '{path}': {exc}") from None
                    images.append(F.interpolate(image[None].float(), size=size, mode="bilinear",
                                                antialias=True).round().clamp(0, 255).byte()[0])
                    labels.append(label)
        if not images:
            raise CnnError(f"no images in '{split}'", hint=f"image files end in {', '.join(sorted(IMAGE_SUFFIXES))}")
        loaded.append(Dataset(root.name, torch.stack(images), torch.tensor(labels), len(classes), tuple(classes)))
    if len(loaded) == 2:
        return loaded[0], loaded[1]
    full = loaded[0]
    test = torch.arange(len(full.labels)) % 10 == 9
    return (Dataset(full.name, full.images[~test], full.labels[~test], full.classes, full.class_names),
            Dataset(full.name, full.images[test], full.labels[test], full.classes, full.class_names))


def load(data: str, size: tuple[int, int] | None = None, channels: int = 1) -> tuple[Dataset, Dataset]:
    """(train, test) for `fashion-mnist`, `mnist`, `cifar10` or an image folder."""
    if data in ("fashion-mnist", "mnist"):
        return load_idx_dataset(data, "train"), load_idx_dataset(data, "test")
    if data == "cifar10":
        return load_cifar10("train"), load_cifar10("test")
    return load_folder(Path(data), size or (224, 224), channels)


DEVICE_COPY_BYTES = 2 << 30  # data sets up to 2 GiB of uint8 pixels live on the GPU while training


def channel_statistics(ds: Dataset) -> tuple[list[float], list[float]]:
    """The mean and standard deviation of each channel of `ds`'s pixels, scaled to [0, 1]."""
    pixels = ds.images.float().div(255)
    return pixels.mean(dim=(0, 2, 3)).tolist(), pixels.std(dim=(0, 2, 3)).tolist()


def scaled(images: torch.Tensor, resize: int | None) -> torch.Tensor:
    """uint8 images (N, C, H, W) as floats in [0, 1], resized to `resize` x `resize` (bilinear, no corner
    alignment) where set: the first steps of every input training, evaluation and prediction make."""
    x = images.float().div_(255)
    if resize and x.shape[-1] != resize:
        x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False)
    return x


class Batches:
    """Batches on the training device: uint8 -> float in [0, 1], resized, augmented,
    normalised with the training set's mean and standard deviation per channel (`mean`, `std`: one
    number per channel, or one for all, of pixels in [0, 1])."""

    def __init__(self, ds: Dataset, batch_size: int, device: torch.device, resize: int | None,
                 augment: set[str], mean: float | list[float], std: float | list[float],
                 channels_last: bool = False) -> None:
        self.ds, self.batch_size, self.device = ds, batch_size, device
        self.resize, self.augment = resize, augment
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.channels_last = channels_last
        # a data set that fits is copied to the GPU once (as uint8): a batch is then a gather on the
        # device, with no copy from the host that the step would wait for
        on_device = device.type == "cuda" and ds.images.numel() <= DEVICE_COPY_BYTES
        self.images = ds.images.to(device) if on_device else ds.images
        self.labels = ds.labels.to(device) if on_device else ds.labels

    def __len__(self) -> int:
        return -(-len(self.ds.labels) // self.batch_size)

    def batch(self, index: torch.Tensor, train: bool, generator: torch.Generator | None) -> tuple:
        """The images and labels at `index`, on the device: x float (B, C, H, W) in [0, 1], resized to
        `resize`, flipped and cropped when `train` and asked for (drawn from `generator`), normalised,
        channels-last if set; y int64 (B,)."""
        index = index.to(self.images.device)
        x = scaled(self.images[index].to(self.device, non_blocking=True), self.resize)
        y = self.labels[index].to(self.device, non_blocking=True)
        if train and "flip" in self.augment:
            flip = torch.rand(len(x), generator=generator).to(self.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if train and "crop" in self.augment:
            x = random_crop(x, generator)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y


def random_crop(x: torch.Tensor, generator: torch.Generator | None, pad: int = 4) -> torch.Tensor:
    """A random crop of each image after zero padding (batched: one gather)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]
    return padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
