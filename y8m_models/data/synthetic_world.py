"""The generative model behind the synthetic YouTube-8M dataset: label catalogue, motifs, per-video plans.

Everything here is a pure function of (seed, classes, knobs) and, for one video, of its index: a video can
be regenerated alone (for thumbnails) without reading any file. ``synthetic.py`` writes the files.

What the model encodes, and which monkeytyping ideas it rewards (paper arXiv:1706.05150):

- **visual** labels: a label-specific rgb motif is added to some frames; audio carries nothing.
- **audio** labels: an audio motif only; rgb carries nothing (separate audio/visual modelling, Table 4).
- **audiovisual** labels: a weaker rgb motif AND a weaker audio motif, placed independently in time
  (the paper's remark that audio and visual activity need not happen together).
- **order** labels come in pairs (X, Y) over two rgb motifs A and B: X = A then later B, Y = B then A.
  Durations and amplitudes are drawn identically, so the mean features of X and Y videos have the same
  distribution; only a model that sees frame order can tell them apart (LSTM / temporal CNN, §4).
- **group** labels have no motif of their own: a group label is present exactly when one of its members
  (labels of the same vertical) is present. It is predictable from the other labels (Chaining, §3).
- Filler frames (dark frames, title cards: fixed patterns) at the start, the end and scattered; they dilute
  the means, and attention pooling can learn to ignore them (§5, Fig. 5).
- Nuisance content that is not tied to labels: a per-video style vector, shots drawn from a shared scene
  bank, distractor motifs, and per-frame noise. Label frequencies are Zipf-like; a video's labels come
  mostly from one of 25 verticals, and motifs of one vertical share a direction.

Internal label ids are the catalogue order (singles, then order pairs, then groups); the public ids written
to the records are assigned later by train1 frequency (``synthetic.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np

MAX_LENGTH = 360  # longest synthetic video (YouTube-8M decodes the first 360 s)
READER_FRAMES = 300  # the frames the official reader keeps (data.dataset.MAX_FRAMES, which loads torch)
RGB_DIM, AUDIO_DIM = 1024, 128
KINDS = ("visual", "audio", "audiovisual", "order", "group")
VISUAL, AUDIO, AUDIOVISUAL, ORDER, GROUP = range(5)
FILLER_NONE, FILLER_DARK, FILLER_TITLE = 0, 1, 2
STREAM_RGB, STREAM_AUDIO = 0, 1
VERTICALS = (
    "Arts & Entertainment", "Games", "Autos & Vehicles", "Sports", "Food & Drink", "Computers & Electronics",
    "Pets & Animals", "Hobbies & Leisure", "Beauty & Fitness", "Science", "Business & Industrial",
    "Home & Garden", "Travel", "Shopping", "Jobs & Education", "People & Society", "Law & Government",
    "Books & Literature", "Health", "Internet & Telecom", "Reference", "Finance", "News", "Real Estate",
    "Online Communities",
)


@dataclass(frozen=True)
class Knobs:
    """How hard the dataset is. Written into synthetic.json so that a dataset can be regenerated.

    Feature amplitudes are per-dimension standard deviations in dequantized units (codes span [-2, 2]).
    The defaults were tuned on the demo preset (bench/bench_synthetic.py): a video-level logistic
    regression reaches GAP@20 ~0.67 on validate2, an order-aware one (means of the two halves) ~0.69, and
    the true labels themselves ~0.9 (10% of them are not written).
    """

    median_length: int = 80  # typical video length in frames (log-normal around it, 6..reader_frames)
    short_fraction: float = 0.05  # videos of 1..5 frames
    long_fraction: float = 0.08  # videos longer than the reader keeps: reader_frames+1 .. 1.2 x reader_frames
    # The frames the models meant for this dataset read (a preset's max_frames): the real data's 300 (the
    # paper's reader keeps the first 300 of up to 360 decoded seconds, so a frame model sees at least 5/6 of
    # what the video-level means average), or the tiny preset's 100 for a dataset meant for it.
    reader_frames: int = READER_FRAMES
    extra_labels: float = 1.5  # Poisson mean of sampled labels beyond the first (before groups)
    in_vertical: float = 0.85  # chance that a sampled label comes from the video's vertical
    zipf: float = 1.0  # exponent of label popularity
    drop: float = 0.10  # chance that a true label is left out of the written labels
    group_fraction: float = 0.08
    pair_fraction: float = 0.10  # order pairs, as a fraction of classes (each pair is two labels)
    visual_fraction: float = 0.35  # of the single labels; the rest split between audio and audiovisual
    audio_fraction: float = 0.25
    frame_noise: float = 0.45
    style: float = 0.20  # per-video offset, constant over frames (does not average out)
    scene: float = 0.25  # per-shot content drawn from a shared bank (does not average out)
    scenes: int = 64
    motif_rgb: float = 0.20
    motif_audio: float = 0.40
    audiovisual_scale: float = 0.7  # each stream of an audiovisual label is this much weaker
    vertical_share: float = 0.5  # correlation of a motif with its vertical's direction
    coverage: tuple[float, float] = (0.1, 0.6)  # fraction of a video's content frames a motif covers
    distractors: float = 2.0  # Poisson mean of unlabelled motif events per stream and video
    filler_noise: float = 0.04
    # Filler shares times this (scattered dark frames up to 8% of a video, a title card at the start of half
    # the videos over 2-10% of it, dark or title frames at the end of 40% over 2-8%, each times ``filler``,
    # capped so that a third of a video stays content): how much of a video attention pooling can learn to skip.
    filler: float = 1.0

    def __post_init__(self) -> None:
        if not 6 <= self.reader_frames <= READER_FRAMES:
            raise ValueError(f"knob reader_frames must be from 6 to {READER_FRAMES} (what readers keep), not "
                             f"{self.reader_frames}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Knobs:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"synthetic.json knobs: unknown keys {sorted(unknown)}")
        values = dict(data)
        if "coverage" in values:
            values["coverage"] = tuple(values["coverage"])
        return cls(**values)


# ------------------------------------------------------------------------------------------------ the world

def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@dataclass(frozen=True)
class World:
    """Label catalogue and feature vectors, indexed by internal label id. Build with ``build_world``."""

    seed: int
    knobs: Knobs
    kind: np.ndarray  # int8 [C] index into KINDS
    vertical: np.ndarray  # int64 [C]
    vertical2: np.ndarray  # int64 [C], -1 when the label has a single vertical
    amplitude: np.ndarray  # float64 [C] label difficulty (multiplies its motifs)
    rgb_motif: np.ndarray  # int64 [C] rgb motif (order labels: the first motif), -1 if none
    second_motif: np.ndarray  # int64 [C] order labels: the rgb motif that comes second, else -1
    audio_motif: np.ndarray  # int64 [C] -1 if none
    group: np.ndarray  # int64 [C] group label a member belongs to, else -1
    slot_labels: np.ndarray  # int64 [S, 2] labels a sampling slot stands for (order pairs: X, Y; else -1)
    slot_weight: np.ndarray  # float64 [S] Zipf popularity
    slot_vertical: np.ndarray  # int64 [S]
    rgb_motifs: np.ndarray  # float32 [Mv, 1024], distractor motifs last
    audio_motifs: np.ndarray  # float32 [Ma, 128], distractor motifs last
    rgb_distractors: tuple[int, int]  # [first, stop) motif range without a label
    audio_distractors: tuple[int, int]
    vertical_rgb: np.ndarray  # float32 [25, 1024] unit directions
    vertical_audio: np.ndarray  # float32 [25, 128]
    scene_rgb: np.ndarray  # float32 [scenes, 1024]
    scene_audio: np.ndarray  # float32 [scenes, 128]
    filler_rgb: np.ndarray  # float32 [3, 1024]: row FILLER_DARK / FILLER_TITLE (row 0 unused)
    filler_audio: np.ndarray  # float32 [128] quiet audio under filler frames
    members: dict[int, tuple[int, ...]] = field(default_factory=dict)  # group label -> member labels

    @property
    def classes(self) -> int:
        return len(self.kind)

    @cached_property
    def vertical_weight(self) -> np.ndarray:
        w = np.bincount(self.slot_vertical, weights=self.slot_weight, minlength=len(VERTICALS))
        return w / w.sum()


def _catalogue(rng: np.random.Generator, classes: int, k: Knobs) -> dict:
    """Kinds, verticals, groups and sampling slots of ``classes`` labels (internal ids)."""
    n_group = max(1, round(k.group_fraction * classes))
    n_pair = max(1, round(k.pair_fraction * classes))
    n_single = classes - n_group - 2 * n_pair
    n_visual = round(k.visual_fraction * n_single)
    n_audio = round(k.audio_fraction * n_single)
    single_kind = np.array([VISUAL] * n_visual + [AUDIO] * n_audio
                           + [AUDIOVISUAL] * (n_single - n_visual - n_audio), np.int8)
    kind = np.concatenate([rng.permutation(single_kind), np.full(2 * n_pair, ORDER, np.int8),
                           np.full(n_group, GROUP, np.int8)])

    # Sampling slots: one per single label, one per order pair. Each vertical gets a slot first, the rest
    # follow a skewed vertical popularity.
    n_slot = n_single + n_pair
    nv = len(VERTICALS)
    popularity = 1.0 / np.arange(1, nv + 1) ** 0.7
    slot_vertical = np.concatenate([rng.permutation(nv)[: min(nv, n_slot)],
                                    rng.choice(nv, max(0, n_slot - nv), p=popularity / popularity.sum())])
    slot_vertical = rng.permutation(slot_vertical)
    slot_weight = 1.0 / (rng.permutation(n_slot) + 1.0) ** k.zipf
    slot_labels = np.full((n_slot, 2), -1, np.int64)
    slot_labels[:n_single, 0] = np.arange(n_single)
    slot_labels[n_single:] = n_single + np.arange(2 * n_pair).reshape(n_pair, 2)

    vertical = np.zeros(classes, np.int64)
    for s, (a, b) in enumerate(slot_labels):
        vertical[a] = slot_vertical[s]
        if b >= 0:
            vertical[b] = slot_vertical[s]

    # Groups: 2..4 ungrouped single labels of the vertical that has most of them.
    group = np.full(classes, -1, np.int64)
    members: dict[int, tuple[int, ...]] = {}
    for g in range(n_group):
        label = n_single + 2 * n_pair + g
        free = np.flatnonzero(group[:n_single] < 0)
        per_vertical = np.bincount(vertical[free], minlength=nv)
        v = int(np.argmax(per_vertical))
        pool = free[vertical[free] == v] if per_vertical[v] >= 2 else free
        chosen = np.sort(rng.choice(pool, min(len(pool), int(rng.integers(2, 5))), replace=False))
        group[chosen] = label
        vertical[label] = vertical[chosen[0]]
        members[label] = tuple(int(m) for m in chosen)

    vertical2 = np.where(rng.random(classes) < 0.2, rng.integers(0, nv, classes), -1)
    vertical2[vertical2 == vertical] = -1
    return dict(kind=kind, vertical=vertical, vertical2=vertical2, group=group, members=members,
                slot_labels=slot_labels, slot_weight=slot_weight, slot_vertical=slot_vertical)


def _motifs(rng: np.random.Generator, vert: np.ndarray, verticals: np.ndarray, dim: int, rms: float,
            share: float) -> np.ndarray:
    """Motif vectors of norm rms*sqrt(dim) that share ``share`` of their direction with their vertical."""
    own = _unit(rng.standard_normal((len(verticals), dim)))
    direction = _unit(share * vert[verticals] + np.sqrt(1.0 - share**2) * own)
    return (direction * rms * np.sqrt(dim)).astype(np.float32)


def build_world(seed: int, classes: int, knobs: Knobs) -> World:
    """The catalogue and vectors of a dataset; deterministic in (seed, classes, knobs)."""
    if classes < 10:
        raise ValueError(f"classes must be at least 10 (got {classes})")
    k = knobs
    rng = np.random.default_rng([seed, 0])
    cat = _catalogue(rng, classes, k)
    kind, vertical = cat["kind"], cat["vertical"]
    nv = len(VERTICALS)

    amplitude = rng.uniform(0.5, 1.5, classes)
    rgb_motif = np.full(classes, -1, np.int64)
    second = np.full(classes, -1, np.int64)
    audio_motif = np.full(classes, -1, np.int64)
    has_rgb = np.flatnonzero((kind == VISUAL) | (kind == AUDIOVISUAL))
    rgb_motif[has_rgb] = np.arange(len(has_rgb))
    order = np.flatnonzero(kind == ORDER).reshape(-1, 2)  # (X, Y) pairs
    first_pair_motif = len(has_rgb) + 2 * np.arange(len(order))
    rgb_motif[order[:, 0]], second[order[:, 0]] = first_pair_motif, first_pair_motif + 1
    rgb_motif[order[:, 1]], second[order[:, 1]] = first_pair_motif + 1, first_pair_motif
    amplitude[order[:, 1]] = amplitude[order[:, 0]]  # X and Y must differ by order only
    has_audio = np.flatnonzero((kind == AUDIO) | (kind == AUDIOVISUAL))
    audio_motif[has_audio] = np.arange(len(has_audio))

    n_rgb = len(has_rgb) + 2 * len(order)
    n_dis = max(4, classes // 10)
    rgb_vertical = np.concatenate([vertical[has_rgb], np.repeat(vertical[order[:, 0]], 2),
                                   rng.integers(0, nv, n_dis)])
    audio_vertical = np.concatenate([vertical[has_audio], rng.integers(0, nv, n_dis)])
    vertical_rgb = _unit(rng.standard_normal((nv, RGB_DIM))).astype(np.float32)
    vertical_audio = _unit(rng.standard_normal((nv, AUDIO_DIM))).astype(np.float32)
    rgb_motifs = _motifs(rng, vertical_rgb, rgb_vertical, RGB_DIM, k.motif_rgb, k.vertical_share)
    audio_motifs = _motifs(rng, vertical_audio, audio_vertical, AUDIO_DIM, k.motif_audio, k.vertical_share)

    # Filler patterns: a dark frame and a title card are (nearly) the same vector in every video.
    filler_rgb = np.zeros((3, RGB_DIM), np.float32)
    filler_rgb[FILLER_DARK] = -0.6 + 0.15 * rng.standard_normal(RGB_DIM)
    filler_rgb[FILLER_TITLE] = 0.5 * np.sign(rng.standard_normal(RGB_DIM))
    return World(
        seed=seed, knobs=k, kind=kind, vertical=vertical, vertical2=cat["vertical2"], amplitude=amplitude,
        rgb_motif=rgb_motif, second_motif=second, audio_motif=audio_motif, group=cat["group"],
        slot_labels=cat["slot_labels"], slot_weight=cat["slot_weight"], slot_vertical=cat["slot_vertical"],
        rgb_motifs=rgb_motifs, audio_motifs=audio_motifs, rgb_distractors=(n_rgb, n_rgb + n_dis),
        audio_distractors=(len(has_audio), len(has_audio) + n_dis), vertical_rgb=vertical_rgb,
        vertical_audio=vertical_audio,
        scene_rgb=(k.scene * rng.standard_normal((k.scenes, RGB_DIM))).astype(np.float32),
        scene_audio=(k.scene * rng.standard_normal((k.scenes, AUDIO_DIM))).astype(np.float32),
        filler_rgb=filler_rgb, filler_audio=(-0.3 + 0.1 * rng.standard_normal(AUDIO_DIM)).astype(np.float32),
        members=cat["members"],
    )


# ---------------------------------------------------------------------------------------------- one video

@dataclass(frozen=True)
class VideoPlan:
    """What happens in one video, frame by frame; everything but the noise."""

    index: int
    num_frames: int
    vertical: int
    labels: np.ndarray  # int64 [L] true labels (internal ids), sorted
    kept: np.ndarray  # bool [L] written to the records (the rest are dropped: incomplete annotation)
    filler: np.ndarray  # uint8 [T] FILLER_NONE / FILLER_DARK / FILLER_TITLE
    shots: np.ndarray  # int64 [S, 3] (start, stop, scene)
    events: np.ndarray  # int64 [E, 4] (stream, motif, start, stop)
    event_amp: np.ndarray  # float64 [E]


def _length(rng: np.random.Generator, k: Knobs) -> int:
    u = rng.random()
    if u < k.short_fraction:
        return int(rng.integers(1, 6))
    if u < k.short_fraction + k.long_fraction:
        return int(rng.integers(k.reader_frames + 1, k.reader_frames * MAX_LENGTH // READER_FRAMES + 1))
    return int(np.clip(round(rng.lognormal(np.log(k.median_length), 0.6)), 6, k.reader_frames))


def _sample_labels(rng: np.random.Generator, w: World) -> tuple[int, np.ndarray]:
    """The video's vertical and its true labels (internal ids, sorted)."""
    k = w.knobs
    vertical = int(rng.choice(len(VERTICALS), p=w.vertical_weight))
    in_v = w.slot_vertical == vertical
    p = w.slot_weight * (k.in_vertical * in_v / w.slot_weight[in_v].sum()
                         + (1.0 - k.in_vertical) / w.slot_weight.sum())
    n = min(1 + int(rng.poisson(k.extra_labels)), 8, len(p))
    # Weighted sampling without replacement: the top n of log p + Gumbel noise.
    slots = np.argsort(-(np.log(p) + rng.gumbel(size=len(p))), kind="stable")[:n]
    picks = w.slot_labels[slots]
    labels = np.where(picks[:, 1] >= 0, picks[np.arange(n), rng.integers(0, 2, n)], picks[:, 0])
    groups = w.group[labels]
    return vertical, np.unique(np.concatenate([labels, groups[groups >= 0]]))


def _filler(rng: np.random.Generator, t: int, scale: float = 1.0) -> tuple[np.ndarray, int, int]:
    """Per-frame filler kind, and the content range [lo, hi) between the opening and closing filler; the
    shares are times ``scale`` (``Knobs.filler``): scattered at most 50%, each edge at most a third."""
    rate = min(0.5, scale * rng.uniform(0.0, 0.08))
    filler = np.where(rng.random(t) < rate, FILLER_DARK, FILLER_NONE).astype(np.uint8)
    lo, hi = 0, t
    if t >= 10:
        if rng.random() < 0.5:  # title card at the start
            lo = max(1, round(min(1 / 3, scale * rng.uniform(0.02, 0.1)) * t))
            filler[:lo] = FILLER_TITLE
        if rng.random() < 0.4:  # dark or title frames at the end
            hi = t - max(1, round(min(1 / 3, scale * rng.uniform(0.02, 0.08)) * t))
            filler[hi:] = rng.choice([FILLER_DARK, FILLER_TITLE])
    if (filler != FILLER_NONE).all():
        filler[t // 2] = FILLER_NONE
    return filler, lo, hi


def _segments(rng: np.random.Generator, lo: int, hi: int, coverage: float) -> list[tuple[int, int]]:
    """1..3 segments inside [lo, hi) covering about ``coverage`` of it (they may overlap)."""
    span = hi - lo
    n = int(rng.integers(1, 4))
    length = max(1, round(coverage * span / n))
    starts = lo + rng.integers(0, max(1, span - length + 1), n)
    return [(int(s), int(min(s + length, hi))) for s in starts]


def _ordered(rng: np.random.Generator, lo: int, hi: int) -> list[tuple[int, int]]:
    """Two segments, the first ending before the second starts (when there is room). Their lengths are
    drawn iid, so which motif comes first does not change the distribution of the mean features."""
    span = hi - lo
    if span < 2:
        return [(lo, hi), (lo, hi)]
    n1, n2 = (max(1, round(u * span)) for u in rng.uniform(0.15, 0.4, 2))
    gaps = np.diff(np.sort(rng.integers(0, span - n1 - n2 + 1, 2)), prepend=0)
    s1 = lo + int(gaps[0])
    s2 = s1 + n1 + int(gaps[1])
    return [(s1, s1 + n1), (s2, s2 + n2)]


def plan_video(w: World, index: int) -> VideoPlan:
    """The plan of video ``index``; depends only on the world and the index."""
    k = w.knobs
    rng = np.random.default_rng([w.seed, 1, index])
    t = _length(rng, k)
    vertical, labels = _sample_labels(rng, w)
    kept = rng.random(len(labels)) >= k.drop
    if not kept.any():  # every YouTube-8M video has at least one label
        kept[rng.integers(len(labels))] = True
    # Motifs go between the opening and closing filler; scattered dark frames hide parts of them, evenly in
    # time (so that they do not favour the first or the second motif of an order label).
    filler, lo, hi = _filler(rng, t, k.filler)

    events: list[tuple[int, int, int, int]] = []
    amps: list[float] = []

    def add(stream: int, motif: int, segments: list[tuple[int, int]], amp: float) -> None:
        events.extend((stream, motif, a, b) for a, b in segments)
        amps.extend([amp] * len(segments))

    for label in labels:
        kind, amp = w.kind[label], w.amplitude[label] * rng.uniform(0.6, 1.3)
        scale = k.audiovisual_scale if kind == AUDIOVISUAL else 1.0
        if kind == ORDER:
            first, second = _ordered(rng, lo, hi)
            add(STREAM_RGB, int(w.rgb_motif[label]), [first], amp)
            add(STREAM_RGB, int(w.second_motif[label]), [second], amp)
            continue
        if w.rgb_motif[label] >= 0:
            add(STREAM_RGB, int(w.rgb_motif[label]), _segments(rng, lo, hi, rng.uniform(*k.coverage)), scale * amp)
        if w.audio_motif[label] >= 0:  # placed independently of the rgb motif
            add(STREAM_AUDIO, int(w.audio_motif[label]), _segments(rng, lo, hi, rng.uniform(*k.coverage)),
                scale * amp)
    for stream, (first, stop) in ((STREAM_RGB, w.rgb_distractors), (STREAM_AUDIO, w.audio_distractors)):
        for _ in range(int(rng.poisson(k.distractors))):
            add(stream, int(rng.integers(first, stop)), _segments(rng, lo, hi, rng.uniform(*k.coverage)),
                rng.uniform(0.5, 1.2))

    n_shots = min(1 + int(rng.poisson(t / 60)), t)
    cuts = np.sort(rng.choice(np.arange(1, t), n_shots - 1, replace=False)) if n_shots > 1 else np.zeros(0, int)
    bounds = np.concatenate([[0], cuts, [t]])
    shots = np.stack([bounds[:-1], bounds[1:], rng.integers(0, k.scenes, n_shots)], axis=1)
    return VideoPlan(index, t, vertical, labels, kept, filler, shots.astype(np.int64),
                     np.asarray(events, np.int64).reshape(-1, 4), np.asarray(amps, np.float64))


def _noise(rng: np.random.Generator, shape: tuple[int, int], std: float) -> np.ndarray:
    """Bell-shaped noise from random bytes (sum of two uniforms): 10x cheaper than Gaussian draws."""
    n = shape[0] * shape[1]
    b = np.frombuffer(rng.bytes(2 * n), np.uint8).reshape(2, *shape)
    x = np.add(b[0], b[1], dtype=np.float32)
    x -= np.float32(255.0)
    x *= np.float32(std / np.sqrt(2 * (256**2 - 1) / 12))
    return x


def render_video(w: World, plan: VideoPlan) -> tuple[np.ndarray, np.ndarray]:
    """Float features (rgb [T, 1024], audio [T, 128]) of one planned video, before quantization."""
    k = w.knobs
    rng = np.random.default_rng([w.seed, 2, plan.index])
    t = plan.num_frames
    streams = []
    for stream, dim, motifs, scenes, vert in ((STREAM_RGB, RGB_DIM, w.rgb_motifs, w.scene_rgb, w.vertical_rgb),
                                              (STREAM_AUDIO, AUDIO_DIM, w.audio_motifs, w.scene_audio,
                                               w.vertical_audio)):
        style = (k.style * rng.standard_normal(dim) + 0.5 * k.style * np.sqrt(dim) * vert[plan.vertical])
        x = _noise(rng, (t, dim), k.frame_noise)
        x += style.astype(np.float32)
        for start, stop, scene in plan.shots:
            x[start:stop] += scenes[scene]
        for (s, motif, start, stop), amp in zip(plan.events, plan.event_amp, strict=True):
            if s == stream:
                x[start:stop] += np.float32(amp) * motifs[motif]
        streams.append(x)
    rgb, audio = streams
    for kind in (FILLER_DARK, FILLER_TITLE):
        rows = np.flatnonzero(plan.filler == kind)
        if rows.size:
            rgb[rows] = w.filler_rgb[kind] + _noise(rng, (rows.size, RGB_DIM), k.filler_noise)
            audio[rows] = w.filler_audio + _noise(rng, (rows.size, AUDIO_DIM), k.filler_noise)
    return rgb, audio
