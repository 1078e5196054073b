"""Motif evidence for SAE features: PWMs from top sites, sequence logos, JASPAR matches.

A feature's top activating sites become a position weight matrix
(:func:`pwm_from_sites`), drawn as a sequence logo by :func:`genointerp.pl.logo`, and
compared with a motif database such as JASPAR (:func:`read_meme`, :func:`compare`)
in the manner of TOMTOM (Gupta et al. 2007, Genome Biology 8:R24).  Every matrix
is ``(L, 4)``: one row per position, columns A, C, G, T.

How :func:`compare` scores and tests a match
--------------------------------------------
Column score: the Pearson correlation between the 4 letter probabilities of a
query column and a target column (TOMTOM's ``pearson``), 0 when either column is
flat.  It lies in [-1, 1] whatever the column's information content, so one
strong column cannot outweigh a run of matching ones.  An alignment scores the
sum over its aligned columns; every offset with at least ``min(min_overlap,
len(query), len(target))`` aligned columns and both strands of the query are
tried, and the best is kept.

Null: the query's columns in a random order (the same order on both strands),
scored against the same target in the same way, best offset and strand kept.  A
query whose column order means nothing is exchangeable with its shuffles, so
``p = (1 + #shuffles scoring >= observed) / (1 + #shuffles)`` is calibrated for
every target whatever its length and content.  Shuffles come in rounds (100,
then doubling the total); a target stops once 10 shuffles have beaten it
(sequential Monte Carlo, Besag & Clifford 1991), so only promising targets get
all ``n_null`` shuffles and the smallest p is ``1 / (1 + n_null)``.

Which comparison runs
---------------------
``method="auto"`` (the default) runs memelite's TOMTOM (Schreiber 2024, ``pip install
memelite``; 25-100x faster, analytic p-values far below 1e-4) when it is installed and
there are at least 25 target motifs, and the built-in comparison otherwise: TOMTOM's null
for a query column is its scores against every target column, which few targets describe
poorly, while the built-in null (shuffled query columns) needs no background.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from .._stats import benjamini_hochberg
from .._textio import decode_line, iter_lines
from ..errors import InputFormatError

log = logging.getLogger(__name__)

ALPHABET = "ACGT"
CompareMethod = Literal["auto", "builtin", "memelite"]
COMPARE_METHODS: tuple[str, ...] = get_args(CompareMethod)
MIN_MEMELITE_TARGETS = 25  # memelite's TOMTOM background is the targets' columns
RESULT_COLUMNS = (
    "id",
    "name",
    "score",
    "p_value",
    "e_value",
    "q_value",
    "offset",
    "orientation",
    "overlap",
)

_FIRST_ROUND = 100  # shuffles every target gets
_ENOUGH_EXCEEDANCES = 10  # a target stops drawing shuffles once this many beat it
_CHUNK_ELEMENTS = 4_000_000  # float64 elements of one batch of shuffles (32 MB)
_TIE_TOLERANCE = 1e-9  # null scores this close below the observed one count as ties
_ROW_SUM_TOLERANCE = 0.01


@dataclass(frozen=True, eq=False)
class Motif:
    """A DNA motif: identifier, name and letter-probability matrix.

    Compared by identity (``eq=False``): numpy arrays have no single truth value.
    """

    id: str
    """Database identifier, e.g. ``MA0004.1``."""
    name: str
    """Factor name, e.g. ``Arnt``."""
    pwm: np.ndarray
    """``(L, 4)`` letter probabilities, columns A, C, G, T, each row summing to 1;
    stored read-only."""

    def __post_init__(self) -> None:
        pwm = _as_pwm(self.pwm, f"pwm of motif {self.id!r}")
        sums = pwm.sum(axis=1)
        if np.any(np.abs(sums - 1) > _ROW_SUM_TOLERANCE):
            raise ValueError(
                f"pwm of motif {self.id!r} has rows summing to {sums.min():.3f}-{sums.max():.3f}. "
                "Fix: give probabilities, each row summing to 1 (divide counts by the row total)"
            )
        pwm = pwm / sums[:, None]
        pwm.setflags(write=False)
        object.__setattr__(self, "pwm", pwm)

    def __len__(self) -> int:
        return self.pwm.shape[0]


def _as_pwm(pwm: Any, what: str = "pwm") -> np.ndarray:
    """``pwm`` as a float64 ``(L, 4)`` array, checked: finite, non-negative, L >= 1."""
    array = np.array(pwm, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 4 or array.shape[0] == 0:
        raise ValueError(
            f"{what} has shape {array.shape}, expected (L, 4) with L >= 1. "
            "Fix: give one row per position and one column per letter A, C, G, T"
        )
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{what} holds negative or non-finite values. Fix: give probabilities")
    return array


# -- MEME files ------------------------------------------------------------------------


def read_meme(path: str | Path) -> list[Motif]:
    """Read the DNA motifs of a MEME-format file, plain or gzip-compressed.

    Parameters
    ----------
    path
        A MEME motif file (``ALPHABET= ACGT``), e.g. a JASPAR download.

    Returns
    -------
    The motifs in file order; ``name`` is the MOTIF line's alternate name, or its id.
    Log-odds matrices and other sections of MEME output are skipped.

    Raises
    ------
    InputFormatError
        Malformed input, naming the file, the line and the fix.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> meme = pathlib.Path(tempfile.mkdtemp()) / "toy.meme"
    >>> _ = meme.write_text(
    ...     "MEME version 4\\n\\nALPHABET= ACGT\\n\\nMOTIF M1 toy\\n"
    ...     "letter-probability matrix: alength= 4 w= 2\\n1 0 0 0\\n0 0.5 0.5 0\\n"
    ... )
    >>> [(m.id, m.name, len(m)) for m in read_meme(meme)]
    [('M1', 'toy', 2)]
    """
    parser = _MemeParser(path)
    lineno = 0
    for lineno, raw in iter_lines(path, InputFormatError, "MEME"):
        parser.feed(lineno, decode_line(raw, path, lineno, InputFormatError, "MEME").strip())
    return parser.finish(lineno)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


class _MemeParser:
    """Line-by-line MEME reader; holds the motif being read and where it started."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.motifs: list[Motif] = []
        self.header: tuple[str, str, int] | None = None  # id, name, line of the open MOTIF
        self.rows: list[np.ndarray] = []
        self.width: int | None = None  # rows announced by w=; None: read to a non-number
        self.in_matrix = False
        self.after_matrix = False  # the previous line completed a matrix of w= rows

    def error(self, problem: str, fix: str, line: int | None) -> InputFormatError:
        record = self.header[0] if self.header else None
        return InputFormatError(self.path, problem, fix, line=line, record=record)

    def feed(self, lineno: int, line: str) -> None:
        fields = line.split()
        numeric = bool(fields) and _is_number(fields[0])
        after_matrix, self.after_matrix = self.after_matrix, False
        if self.in_matrix:
            if numeric:
                self.add_row(lineno, fields)
                return
            if fields or (self.width is None and self.rows):  # a blank line ends w-less rows
                self.close_matrix(lineno)
        elif numeric:
            if after_matrix:
                raise self.error(
                    f"more matrix rows than w= {len(self.rows)} says",
                    "make w= in the matrix header match its number of rows",
                    lineno,
                )
            return  # log-odds matrices and other sections of MEME output are skipped
        if not fields:
            return
        if fields[0] == "MOTIF":
            self.open_motif(lineno, fields)
        elif line.startswith("letter-probability matrix"):
            self.open_matrix(lineno, line)
        elif fields[0].startswith("ALPHABET"):
            self.check_alphabet(lineno, line)

    def check_alphabet(self, lineno: int, line: str) -> None:
        if "=" not in line:
            raise self.error(
                "custom ALPHABET definitions are not supported",
                "write the DNA alphabet as 'ALPHABET= ACGT'",
                lineno,
            )
        letters = line.split("=", 1)[1].strip()
        if letters.upper() != ALPHABET:
            raise self.error(
                f"alphabet {letters!r} is not DNA",
                "give a DNA motif file (ALPHABET= ACGT)",
                lineno,
            )

    def open_motif(self, lineno: int, fields: list[str]) -> None:
        self.finish_motif(lineno)
        if len(fields) < 2:
            raise self.error(
                "MOTIF line without an identifier", "write 'MOTIF <id> [name]'", lineno
            )
        name = fields[2] if len(fields) > 2 else fields[1]
        self.header, self.rows, self.width = (fields[1], name, lineno), [], None

    def open_matrix(self, lineno: int, line: str) -> None:
        if self.header is None:
            raise self.error(
                "letter-probability matrix before any MOTIF line",
                "put 'MOTIF <id> [name]' before it",
                lineno,
            )
        if self.rows:
            raise self.error(
                "second letter-probability matrix in one motif",
                "start each matrix with its own MOTIF line",
                lineno,
            )
        keys = dict(re.findall(r"([\w-]+)\s*=\s*(\S+)", line))
        if keys.get("alength", "4") != "4":
            raise self.error(
                f"alength= {keys['alength']}, but DNA motifs have 4 letters",
                "give a DNA motif file (alength= 4)",
                lineno,
            )
        width = keys.get("w")
        if width is not None and (not width.isdigit() or int(width) == 0):
            raise self.error(
                f"w= {width!r} is not a positive whole number",
                "write the number of matrix rows after w=",
                lineno,
            )
        self.width = None if width is None else int(width)
        self.in_matrix = True

    def add_row(self, lineno: int, fields: list[str]) -> None:
        if len(fields) != 4:
            raise self.error(
                f"matrix row has {len(fields)} values, expected 4",
                "write one probability per letter A C G T on each row",
                lineno,
            )
        try:
            row = np.array([float(value) for value in fields])
        except ValueError:
            raise self.error(
                f"matrix row {' '.join(fields)!r} holds a value that is not a number",
                "write 4 decimal probabilities per row",
                lineno,
            ) from None
        total = row.sum()
        if not np.all(np.isfinite(row)) or np.any(row < 0) or abs(total - 1) > _ROW_SUM_TOLERANCE:
            raise self.error(
                f"matrix row {' '.join(fields)!r} is not a probability row (sum {total:.4g})",
                "give non-negative probabilities summing to 1 (divide counts by the row total)",
                lineno,
            )
        self.rows.append(row / total)
        if self.width is not None and len(self.rows) == self.width:
            self.in_matrix, self.after_matrix = False, True

    def close_matrix(self, lineno: int) -> None:
        if self.width is not None and len(self.rows) < self.width:
            raise self.error(
                f"matrix has {len(self.rows)} rows but its header says w= {self.width}",
                "give as many rows as w= says, or correct w=",
                lineno,
            )
        self.in_matrix = False

    def finish_motif(self, lineno: int) -> None:
        if self.header is None:
            return
        if self.in_matrix:
            self.close_matrix(lineno)
        motif_id, name, line = self.header
        if not self.rows:
            raise self.error(
                "motif has no letter-probability matrix",
                "add a 'letter-probability matrix: alength= 4 w= N' block after the MOTIF line",
                line,
            )
        self.motifs.append(Motif(motif_id, name, np.vstack(self.rows)))
        self.header, self.rows, self.width = None, [], None

    def finish(self, lineno: int) -> list[Motif]:
        self.finish_motif(lineno)
        if not self.motifs:
            raise InputFormatError(
                self.path,
                "holds no MOTIF records",
                "give a MEME motif file (https://meme-suite.org/meme/doc/meme-format.html)",
            )
        return self.motifs


# -- matrices --------------------------------------------------------------------------


def pwm_from_sites(sites: Sequence[str], pseudocount: float = 0.25) -> np.ndarray:
    """Letter probabilities of equal-length DNA sites.

    Each column is ``(counts + pseudocount) / (n_sites + 4 * pseudocount)``;
    letters other than A, C, G, T (any case) count 0.25 towards each letter.

    Parameters
    ----------
    sites
        Equal-length DNA strings, e.g. the windows around a feature's top activations.
    pseudocount
        Added to every letter count of every column.

    Returns
    -------
    ``(L, 4)`` probabilities, columns A, C, G, T.

    Examples
    --------
    >>> pwm_from_sites(["AC", "AG"], pseudocount=0).tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]]
    """
    sites = list(sites)
    lengths = sorted({len(site) for site in sites})
    if not sites or lengths == [0]:
        raise ValueError("no sites, or empty ones, to build a pwm from. Fix: pass DNA strings")
    if len(lengths) > 1:
        raise ValueError(
            f"sites have different lengths ({', '.join(map(str, lengths[:5]))}). "
            "Fix: cut every site to the same window, e.g. centred on the activation peak"
        )
    if not pseudocount >= 0:
        raise ValueError(f"pseudocount {pseudocount} is negative. Fix: give 0 or more")
    text = "".join(sites).upper().encode("ascii", errors="replace")
    codes = np.frombuffer(text, dtype=np.uint8).reshape(len(sites), lengths[0])  # (n, L)
    counts = np.stack([(codes == ord(letter)).sum(axis=0) for letter in ALPHABET], axis=1)
    other = len(sites) - counts.sum(axis=1, keepdims=True)  # (L, 1) non-ACGT letters
    return (counts + 0.25 * other + pseudocount) / (len(sites) + 4 * pseudocount)


def information_content(pwm: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """Bits per column: ``sum_b p_b log2(p_b / background_b)``, with ``0 log 0 = 0``.

    Parameters
    ----------
    pwm
        ``(L, 4)`` probabilities.
    background
        ``(4,)`` letter frequencies; uniform (0.25 each) when None.

    Returns
    -------
    ``(L,)`` information content; 2 bits for a certain column on a uniform background.

    Examples
    --------
    >>> information_content([[1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]]).tolist()
    [2.0, 0.0]
    """
    pwm = _as_pwm(pwm)
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=np.float64)
    if bg.shape != (4,) or np.any(bg <= 0) or abs(bg.sum() - 1) > _ROW_SUM_TOLERANCE:
        raise ValueError(
            f"background {bg.tolist()} is not 4 positive frequencies summing to 1. "
            "Fix: give A, C, G, T frequencies, e.g. [0.3, 0.2, 0.2, 0.3]"
        )
    ratio = np.divide(pwm, bg, out=np.ones_like(pwm), where=pwm > 0)
    return (pwm * np.log2(ratio)).sum(axis=1)


def trim(pwm: np.ndarray, min_ic: float = 0.25) -> tuple[np.ndarray, int]:
    """Drop flanking columns below ``min_ic`` bits; inner columns are kept.

    Returns
    -------
    The trimmed ``(L', 4)`` matrix (``(0, 4)`` when no column reaches ``min_ic``) and
    the index of its first column in ``pwm``.

    Examples
    --------
    >>> flat, a = [0.25] * 4, [1, 0, 0, 0]
    >>> core, start = trim([flat, a, flat, a, flat])
    >>> core.shape, start
    ((3, 4), 1)
    """
    pwm = _as_pwm(pwm)
    kept = np.flatnonzero(information_content(pwm) >= min_ic)
    if kept.size == 0:
        return pwm[:0].copy(), 0
    return pwm[kept[0] : kept[-1] + 1].copy(), int(kept[0])


def reverse_complement(pwm: np.ndarray) -> np.ndarray:
    """The matrix of the opposite strand: positions reversed, A<->T and C<->G swapped.

    Examples
    --------
    >>> reverse_complement([[1, 0, 0, 0], [0, 1, 0, 0]]).tolist()
    [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """
    return _as_pwm(pwm)[::-1, ::-1].copy()


# -- comparison ------------------------------------------------------------------------


def compare(
    query: np.ndarray,
    motifs: Sequence[Motif],
    *,
    min_overlap: int = 5,
    n_null: int = 10_000,
    method: CompareMethod = "auto",
    seed: int = 0,
) -> pd.DataFrame:
    """Compare a query matrix with every motif of a database, TOMTOM-style.

    See the module docstring for the column score (Pearson correlation) and the
    null (column-shuffled query against the same target).

    Parameters
    ----------
    query
        ``(L, 4)`` probabilities, e.g. from :func:`pwm_from_sites`, best :func:`trim`-med.
    motifs
        Targets, e.g. ``read_meme(jaspar_file)``.
    min_overlap
        Fewest aligned columns, lowered to the shorter motif's length.
    n_null
        Most shuffles drawn per target; sets the smallest p-value, ``1 / (1 + n_null)``.
    method
        ``"auto"``: memelite's TOMTOM when installed and given at least 25 motifs, else
        ``"builtin"``; ``"memelite"`` always uses memelite's TOMTOM (scores and p-values
        of its own; its p-values use the targets' columns as background, so few targets
        make them unreliable).
    seed
        Seed of the shuffles.

    Returns
    -------
    One row per motif, sorted by p-value (best score first among ties): ``id``,
    ``name``, ``score``, ``p_value``, ``e_value`` (p times the number of motifs),
    ``q_value`` (Benjamini-Hochberg), ``offset`` (target position of the query's first
    column, in the orientation used), ``orientation`` (``+`` query as given, ``-`` its
    reverse complement) and ``overlap`` (aligned columns).

    Notes
    -----
    A query of L columns has only L! column orders, so its p-values cannot fall far
    below 1 / L! (1/720 for 6 columns, E-values above 3 against JASPAR): for short
    queries, compare ranks rather than E-values, or use memelite.  One query of 10-20
    columns against JASPAR's 2,346 motifs takes about a second built in, a few
    milliseconds with memelite (after numba compiles it once, cached on disk).

    Examples
    --------
    >>> motifs = [Motif("M1", "ab", [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])]
    >>> hit = compare([[0, 1, 0, 0], [0, 0, 0, 1]], motifs, n_null=100, method="builtin").iloc[0]
    >>> round(float(hit.score), 6), int(hit.offset), hit.orientation
    (2.0, 1, '+')
    """
    query = _as_pwm(query, "query")
    motifs = list(motifs)
    if not motifs:
        _check_method(method, min_overlap, n_null)
        return pd.DataFrame({column: [] for column in RESULT_COLUMNS})
    raw = comparisons([query], motifs, min_overlap=min_overlap, n_null=n_null, method=method)
    return _result_frame(motifs, *raw[0])


def _check_method(method: str, min_overlap: int, n_null: int) -> None:
    if method not in COMPARE_METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(COMPARE_METHODS)}")
    if min_overlap < 1 or n_null < 1:
        raise ValueError(
            f"min_overlap {min_overlap} and n_null {n_null} must be at least 1. Fix: raise them"
        )


def resolve_method(method: str, n_targets: int) -> str:
    """``builtin`` or ``memelite``: what ``method`` (``auto`` included) runs on
    ``n_targets`` target motifs (see :func:`compare`)."""
    if method != "auto":
        return method
    try:
        import memelite  # noqa: F401
    except ImportError:
        return "builtin"
    return "memelite" if n_targets >= MIN_MEMELITE_TARGETS else "builtin"


def comparisons(
    queries: Sequence[np.ndarray],
    motifs: Sequence[Motif],
    *,
    background: Sequence[Motif] = (),
    min_overlap: int = 5,
    n_null: int = 10_000,
    method: CompareMethod = "auto",
    seed: int = 0,
) -> list[tuple[np.ndarray, ...]]:
    """Every query against every motif, as arrays in motif order.

    ``background`` motifs join the targets of memelite's TOMTOM (whose null comes from
    the target columns) without being reported; the built-in comparison ignores them.
    Returns, per query, ``(score, p_value, offset, strand, overlap)`` arrays over
    ``motifs`` (strand 0 = query as given, 1 = its reverse complement).
    """
    _check_method(method, min_overlap, n_null)
    queries = [_as_pwm(query, "query") for query in queries]
    motifs, background = list(motifs), list(background)
    if resolve_method(method, len(motifs) + len(background)) == "memelite":
        return _memelite(queries, motifs, background)
    return [_builtin(query, motifs, min_overlap, n_null, seed) for query in queries]


def _builtin(query, motifs, min_overlap, n_null, seed) -> tuple[np.ndarray, ...]:
    lengths = np.array([len(motif) for motif in motifs])
    columns = _unit_columns(np.concatenate([motif.pwm for motif in motifs]))
    targets = np.split(columns, np.cumsum(lengths)[:-1])  # per motif, (L_t, 4)
    queries = (_unit_columns(query), _unit_columns(query[:, ::-1]))  # query, complement
    index = _build_index(queries, targets, lengths, min_overlap)
    score, strand, offset, overlap = _observed(index, len(motifs))
    rng = np.random.default_rng(seed)
    p_value = _shuffle_p_values(queries, targets, lengths, score, min_overlap, n_null, rng)
    return score, p_value, offset, strand, overlap


def best_match(query: np.ndarray, motifs: Sequence[Motif], **kwargs: Any) -> dict | None:
    """The best row of :func:`compare` as a dict, or None when there are no motifs.

    Examples
    --------
    >>> motifs = [Motif("M1", "ab", [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])]
    >>> best_match([[1, 0, 0, 0], [0, 1, 0, 0]], motifs, n_null=100, method="builtin")["id"]
    'M1'
    """
    frame = compare(query, motifs, **kwargs)
    return None if frame.empty else frame.head(1).to_dict("records")[0]


def _unit_columns(pwm: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit length, so dot products are Pearson correlations.

    Flat rows (all letters equal) become zeros: they correlate 0 with everything.
    """
    centred = pwm - pwm.mean(axis=1, keepdims=True)  # (L, 4)
    norm = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 1e-12)


class _Index(NamedTuple):
    """Targets laid side by side, and every (target, offset) alignment as a diagonal.

    The correlation matrix ``padded[k, c]`` (query column k, target column c, zero
    padding between) is viewed as ``windows[k, i, c] = padded[k, c + i]`` so that
    query rows in any order ``order`` give ``windows[order, arange(lq)]``, whose
    cumulative sum over rows yields every diagonal sum of every alignment at once.
    """

    windows: tuple[np.ndarray, np.ndarray]  # per strand, (lq, lq, n_cols) views
    column: np.ndarray  # (n_pairs,) column c where the alignment's diagonal starts
    first_row: np.ndarray  # (n_pairs,) first aligned query row
    end_row: np.ndarray  # (n_pairs,) one past the last aligned query row
    offset: np.ndarray  # (n_pairs,) target position of query row 0
    target: np.ndarray  # (n_pairs,) target of each alignment
    starts: np.ndarray  # (n_targets,) first alignment of each target


def _build_index(
    queries: tuple[np.ndarray, np.ndarray],
    targets: Sequence[np.ndarray],
    lengths: np.ndarray,
    min_overlap: int,
) -> _Index:
    lq = queries[0].shape[0]
    columns = np.concatenate(targets)  # (n_target_columns, 4)
    pad = lq - 1
    windows = []
    for unit in queries:
        padded = np.zeros((lq, len(columns) + 2 * pad))
        padded[:, pad : pad + len(columns)] = unit @ columns.T  # (lq, n_target_columns)
        windows.append(sliding_window_view(padded, len(columns) + pad, axis=1))
    overlap = np.minimum(min_overlap, np.minimum(lengths, lq))
    n_offsets = lq + lengths - 2 * overlap + 1
    starts = np.concatenate(([0], np.cumsum(n_offsets)[:-1]))
    target = np.repeat(np.arange(len(lengths)), n_offsets)
    offset = np.arange(n_offsets.sum()) - starts[target] - (lq - overlap)[target]
    first_row = np.maximum(0, -offset)
    end_row = np.minimum(lq, lengths[target] - offset)
    target_start = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    column = pad + target_start[target] + offset
    return _Index(tuple(windows), column, first_row, end_row, offset, target, starts)


def _alignment_scores(index: _Index, strand: int, orders: np.ndarray) -> np.ndarray:
    """``(B, n_pairs)`` scores of every alignment for each query row order ``(B, lq)``."""
    rows = np.arange(orders.shape[1])
    cumulative = index.windows[strand][orders, rows]  # (B, lq, n_cols)
    for row in range(1, len(rows)):  # running sum over query rows, in place
        cumulative[:, row] += cumulative[:, row - 1]
    end = cumulative[:, index.end_row - 1, index.column]
    before = cumulative[:, np.maximum(index.first_row - 1, 0), index.column]
    return end - before * (index.first_row > 0)


def _observed(index: _Index, n_targets: int) -> tuple[np.ndarray, ...]:
    """Best score, strand, offset and overlap of the query as given, per target."""
    identity = np.arange(index.windows[0].shape[0])[None, :]
    scores = np.concatenate(
        [
            _alignment_scores(index, 0, identity)[0],
            _alignment_scores(index, 1, identity[:, ::-1])[0],
        ]
    )
    n_pairs = len(index.target)
    # best alignment per target: sort by target, then score descending; the first of each
    order = np.lexsort((-scores, np.tile(index.target, 2)))
    best = order[np.searchsorted(np.tile(index.target, 2)[order], np.arange(n_targets))]
    pair = best % n_pairs
    overlap = index.end_row[pair] - index.first_row[pair]
    return scores[best], best // n_pairs, index.offset[pair], overlap


def _shuffle_p_values(
    queries: tuple[np.ndarray, np.ndarray],
    targets: Sequence[np.ndarray],
    lengths: np.ndarray,
    observed: np.ndarray,
    min_overlap: int,
    n_null: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Empirical p-value of each target's best score among column-shuffled queries."""
    lq = queries[0].shape[0]
    beaten = np.zeros(len(targets), dtype=np.int64)
    drawn = np.zeros(len(targets), dtype=np.int64)
    active, total = np.arange(len(targets)), 0
    while active.size:
        size = min(n_null - total, max(_FIRST_ROUND, total))
        index = _build_index(queries, [targets[t] for t in active], lengths[active], min_overlap)
        batch = max(1, _CHUNK_ELEMENTS // (lq * index.windows[0].shape[2]))
        for done in range(0, size, batch):
            orders = rng.permuted(np.tile(np.arange(lq), (min(batch, size - done), 1)), axis=1)
            best = np.maximum(
                _best_per_target(index, 0, orders), _best_per_target(index, 1, orders[:, ::-1])
            )  # (B, n_active)
            beaten[active] += (best >= observed[active] - _TIE_TOLERANCE).sum(axis=0)
        total += size
        drawn[active] = total
        active = active[beaten[active] < _ENOUGH_EXCEEDANCES] if total < n_null else active[:0]
        log.debug("%d shuffles drawn; %d targets go on", total, active.size)
    return (1 + beaten) / (1 + drawn)


def _best_per_target(index: _Index, strand: int, orders: np.ndarray) -> np.ndarray:
    """``(B, n_targets)`` best alignment score of each target for each row order."""
    return np.maximum.reduceat(_alignment_scores(index, strand, orders), index.starts, axis=1)


def _result_frame(
    motifs: Sequence[Motif],
    score: np.ndarray,
    p_value: np.ndarray,
    offset: np.ndarray,
    strand: np.ndarray,
    overlap: np.ndarray,
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "id": [motif.id for motif in motifs],
            "name": [motif.name for motif in motifs],
            "score": np.asarray(score, dtype=np.float64),
            "p_value": np.asarray(p_value, dtype=np.float64),
            "e_value": np.asarray(p_value, dtype=np.float64) * len(motifs),
            "q_value": benjamini_hochberg(np.asarray(p_value, dtype=np.float64)),
            "offset": np.asarray(offset, dtype=np.int64),
            "orientation": np.where(np.asarray(strand) == 0, "+", "-"),
            "overlap": np.asarray(overlap, dtype=np.int64),
        }
    )
    frame = frame.sort_values(["p_value", "score"], ascending=[True, False], kind="stable")
    return frame.reset_index(drop=True)


def _memelite(queries, motifs, background) -> list[tuple[np.ndarray, ...]]:
    try:
        from memelite import tomtom
    except ImportError as exc:
        raise ImportError(
            "method='memelite' needs the memelite package. Fix: pip install memelite, "
            "or use method='builtin'"
        ) from exc
    targets = [np.ascontiguousarray(motif.pwm.T) for motif in [*motifs, *background]]
    p_value, score, offset, overlap, strand = (
        np.asarray(result)[:, : len(motifs)]
        for result in tomtom([np.ascontiguousarray(q.T) for q in queries], targets, n_jobs=1)[:5]
    )
    # memelite's '-' aligns the query to the target's reverse complement; turn its offset
    # into ours: the query's reverse complement against the target as given.
    lengths = np.array([len(motif) for motif in motifs])
    out = []
    for i, query in enumerate(queries):
        flip = np.where(strand[i] == 0, offset[i], lengths - len(query) - offset[i])
        out.append((score[i], p_value[i], flip, strand[i], overlap[i]))
    return out
