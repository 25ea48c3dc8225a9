"""Transcript quality (issue 13): WER and CER of the offline Whisper models at telephone quality.

Corpora (read from ``--data``):

* **nEMO** (Polish): the reference is ``raw_text`` of ``nemo/data.tsv`` (the row whose ``file_id`` has the
  file's stem);
* **RAVDESS** (English): the reference is the statement in the file name (``01`` "Kids are talking by the
  door", ``02`` "Dogs are sitting by the door").

Subset: ``--per-corpus`` utterances of each corpus (default 200), stratified by speaker (the same number from
every speaker, the remainder from randomly chosen speakers; all emotions), drawn with ``--seed`` (default 0).
Every utterance goes through the project's telephone channel (:func:`callemo.io.telephone`: 8 kHz,
300-3400 Hz, G.711 mu-law, no added noise; nEMO is already 8 kHz and is band-limited and mu-law coded too).

Transcription runs the way ``callemo analyze --transcribe`` runs it: each speaker's sampled utterances, in a
seeded random order, are packed into pseudo-calls of at most ``--call-seconds`` (28 s) of speech, one
segment per utterance, and :func:`callemo.text.asr.transcribe_segments` transcribes each pseudo-call (the
segments joined with 0.3 s of silence, decoded by faster-whisper in 30 s windows, int8, greedy, one
thread; the language is detected once per pseudo-call on its first 30 s, or forced). Decoding each 3 s
utterance alone would cost 8x as much (Whisper always encodes a 30 s window). Errors are counted per
pseudo-call (the references of its utterances joined in order against all its recognised words), so a
word that the word timings put into the neighbouring segment is not counted twice.

Runs: ``tiny.en`` (English only; on nEMO it is forced to English, i.e. useless by construction, reported
to say so, on the first ``--forced-en-calls`` pseudo-calls only) and multilingual ``base`` with the language
detected (``auto``; the language-ID accuracy is the share of pseudo-calls detected as the corpus's
language) and, on nEMO, forced to ``pl``. ``transcribe_segments`` decodes a call whose language it detected
with that language given, so the forced run re-decodes only the pseudo-calls that auto-detection did not
call ``pl`` and takes the auto run's transcripts (and CPU time) for the others (``reused_auto_calls``).

Normaliser (both reference and hypothesis, jiwer transforms): lower case, punctuation removed (Unicode
punctuation classes), runs of spaces collapsed, stripped; diacritics are kept (a missing Polish diacritic is
an error). WER pools word errors over the subset, CER the same over characters (spaces included). 95 % CIs:
percentile bootstrap over speakers (1000 replicates). RTF: CPU seconds of transcription per second of speech.

Example (about 15 min of CPU)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/transcripts.py --json benchmarks/results/transcripts.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RAVDESS_STATEMENTS = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}


def normaliser():
    import jiwer

    return jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip()])


def normalise(text: str) -> str:
    return normaliser()(text)


def references(corpus: str, data: Path) -> pd.DataFrame:
    """The corpus's files with ``speaker`` and reference ``text`` (one row per file)."""
    from callemo.corpora import build_manifest

    df = build_manifest(corpus, data / corpus).reset_index(drop=True)
    if corpus == "ravdess":
        df["reference"] = df["statement"].astype(int).map(RAVDESS_STATEMENTS)
    elif corpus == "nemo":
        tsv = pd.read_csv(data / "nemo" / "data.tsv", sep="\t", dtype=str)
        by_stem = dict(zip(tsv["file_id"].str.strip().str.rsplit(".", n=1).str[0], tsv["raw_text"].str.strip()))
        df["reference"] = [by_stem.get(Path(p).stem) for p in df["path"]]
    else:
        raise SystemExit(f"no reference transcripts for corpus {corpus!r} (nemo, ravdess)")
    missing = df["reference"].isna()
    if missing.any():
        raise SystemExit(f"{corpus}: {int(missing.sum())} files have no reference text, "
                         f"e.g. {df.loc[missing, 'path'].iloc[0]}")
    return df


def stratified_subset(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` rows spread evenly over speakers (remainder to random speakers), reproducible with ``seed``."""
    rng = np.random.default_rng(seed)
    speakers = sorted(df["speaker"].unique())
    quota = dict.fromkeys(speakers, n // len(speakers))
    for s in rng.choice(speakers, n % len(speakers), replace=False):
        quota[s] += 1
    parts = []
    for s in speakers:
        rows = df[df["speaker"] == s]
        take = rng.choice(len(rows), min(quota[s], len(rows)), replace=False)
        parts.append(rows.iloc[np.sort(take)])
    return pd.concat(parts).reset_index(drop=True)


def telephone_audio(path: str) -> np.ndarray:
    from callemo.io import load_audio, telephone

    x, sr = load_audio(path)
    return telephone(x, sr)[0]


def error_counts(refs: list[str], hyps: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per utterance ``(errors, reference length)`` for words (column 0) and characters (column 1)."""
    import jiwer

    err = np.zeros((len(refs), 2))
    size = np.zeros((len(refs), 2))
    for i, (r, h) in enumerate(zip(refs, hyps)):
        r, h = normalise(r), normalise(h)
        w = jiwer.process_words(r, h)
        c = jiwer.process_characters(r, h)
        err[i] = (w.substitutions + w.deletions + w.insertions, c.substitutions + c.deletions + c.insertions)
        size[i] = (len(r.split()), len(r))
    return err, size


def score(items: pd.DataFrame, n_boot: int, seed: int) -> dict:
    """Pooled WER / CER with speaker-bootstrap CIs, and the language-ID accuracy when a language was detected."""
    err, size = error_counts(items["reference"].tolist(), items["hypothesis"].tolist())
    spk = items["speaker"].to_numpy()
    speakers = np.unique(spk)
    by = {s: (err[spk == s].sum(0), size[spk == s].sum(0)) for s in speakers}
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        pick = rng.choice(speakers, len(speakers), replace=True)
        e = np.sum([by[s][0] for s in pick], axis=0)
        n = np.sum([by[s][1] for s in pick], axis=0)
        boots.append(e / n)
    lo, hi = np.percentile(np.asarray(boots), [2.5, 97.5], axis=0)
    wer, cer = err.sum(0) / size.sum(0)
    out = {"speakers": len(speakers), "wer": float(wer), "cer": float(cer),
           "wer_ci": [float(lo[0]), float(hi[0])], "cer_ci": [float(lo[1]), float(hi[1])],
           "rtf": float(items["seconds"].sum() / items["duration"].sum())}
    if items["detected"].notna().any():
        out["language_id_accuracy"] = float(np.mean(items["detected"] == items["expected_language"]))
        out["detected_languages"] = {str(k): int(v) for k, v in items["detected"].value_counts().items()}
    return out


def pseudo_calls(sub: pd.DataFrame, durations: np.ndarray, call_seconds: float, seed: int) -> list[list[int]]:
    """Row numbers of ``sub`` packed into pseudo-calls: per speaker, in a seeded random order, at most
    ``call_seconds`` of speech each (an utterance longer than that is a call on its own)."""
    rng = np.random.default_rng(seed)
    calls: list[list[int]] = []
    for spk in sorted(sub["speaker"].unique()):
        rows = rng.permutation(np.flatnonzero(sub["speaker"].to_numpy() == spk)).tolist()
        cur: list[int] = []
        total = 0.0
        for i in rows:
            if cur and total + durations[i] > call_seconds:
                calls.append(cur)
                cur, total = [], 0.0
            cur.append(i)
            total += durations[i]
        if cur:
            calls.append(cur)
    return calls


def transcribe_call(asr, signals: list[np.ndarray], rows: list[int], language: str | None) -> tuple[str, str]:
    """(recognised text of the pseudo-call's segments in order, detected or given language)."""
    from callemo.segments import set_index
    from callemo.text.asr import transcribe_segments

    gap = np.zeros(4000, np.float32)  # 0.5 s between utterances in the pseudo-call
    parts, segs, pos = [], [], 0
    for i in rows:
        segs.append({"file": "call", "start": pos / 8000, "end": (pos + len(signals[i])) / 8000})
        parts += [signals[i], gap]
        pos += len(signals[i]) + len(gap)
    out = transcribe_segments(asr, np.concatenate(parts), 8000, set_index(pd.DataFrame(segs)), language=language)
    return " ".join(t for t in out["text"] if t.strip()), str(out.attrs["transcript"]["language"])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="folder holding nemo/ and ravdess/")
    ap.add_argument("--corpora", default="nemo,ravdess")
    ap.add_argument("--per-corpus", type=int, default=200, help="utterances per corpus (stratified by speaker)")
    ap.add_argument("--call-seconds", type=float, default=28.0, help="speech per pseudo-call")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--forced-en-calls", type=int, default=5,
                    help="tiny.en on a non-English corpus (useless by construction): only this many pseudo-calls "
                         "(0 = all)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "transcripts.json"))
    args = ap.parse_args(argv)

    from callemo.text.asr import load_asr

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    data = Path(args.data)
    corpora = [c.strip() for c in args.corpora.split(",") if c.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    t0 = time.time()
    command = "python benchmarks/transcripts.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict = {"command": command,
                     "protocol": f"{args.per_corpus} utterances per corpus stratified by speaker (seed {args.seed}); "
                                 "telephone channel 8 kHz 300-3400 Hz G.711 mu-law; per speaker pseudo-calls of at "
                                 f"most {args.call_seconds:g} s of speech transcribed by callemo.text.asr."
                                 "transcribe_segments (faster-whisper int8, greedy, one thread); normaliser: jiwer "
                                 "lower case, punctuation removed, spaces collapsed; pooled WER/CER, 95% bootstrap CI "
                                 "over speakers",
                     "runs": {}}
    for corpus in corpora:
        sub = stratified_subset(references(corpus, data), args.per_corpus, args.seed)
        lang = "pl" if corpus == "nemo" else "en"
        log(f"{corpus}: {len(sub)} utterances, {sub['speaker'].nunique()} speakers; loading telephone audio")
        signals = [telephone_audio(p) for p in sub["path"]]
        dur = np.array([len(x) / 8000 for x in signals])
        calls = pseudo_calls(sub, dur, args.call_seconds, args.seed)
        log(f"  {len(calls)} pseudo-calls, {dur.sum():.0f} s of speech")
        for model in models:
            asr = load_asr(model, threads=1)
            runs = [("auto", None)] if asr.multilingual else [("en" if lang == "en" else "en (forced)", "en")]
            if asr.multilingual and corpus == "nemo":
                runs.append(("pl (forced)", "pl"))
            auto: list[dict] | None = None
            for label, language in runs:
                key = f"{corpus}/{model}/{label}"
                rows: list[dict] = []
                cpu = 0.0
                todo = calls
                if label == "en (forced)" and args.forced_en_calls:
                    todo = calls[: args.forced_en_calls]
                reused = 0
                for k, call in enumerate(todo):
                    if language is not None and auto is not None and auto[k]["detected"] == language:
                        # transcribe_segments decodes a call whose language it detected with that language
                        # given: the forced run would repeat the auto run's decode exactly
                        hyp, detected, call_cpu = auto[k]["hypothesis"], language, auto[k]["cpu"]
                        reused += 1
                    else:
                        t = time.process_time()
                        hyp, detected = transcribe_call(asr, signals, call, language)
                        call_cpu = time.process_time() - t
                    cpu += call_cpu
                    rows.append({"speaker": sub["speaker"].iloc[call[0]],
                                 "reference": " ".join(sub["reference"].iloc[call]), "hypothesis": hyp,
                                 "detected": detected if language is None and asr.multilingual else None,
                                 "expected_language": lang, "seconds": call_cpu, "cpu": call_cpu,
                                 "duration": float(dur[call].sum()),
                                 "files": [Path(sub["path"].iloc[i]).name for i in call]})
                    if (k + 1) % 5 == 0:
                        log(f"    {key}: {k + 1}/{len(todo)} calls ({cpu:.0f} s CPU, {time.time() - t0:.0f} s)")
                items = pd.DataFrame(rows)
                if language is None:
                    auto = rows
                r = score(items, args.n_boot, args.seed)
                r.update(utterances=int(sum(len(c) for c in todo)), pseudo_calls=len(todo),
                         speech_seconds=round(float(items["duration"].sum()), 1), reused_auto_calls=reused)
                r["calls"] = items[["files", "reference", "hypothesis", "detected"]].to_dict(orient="records")
                results["runs"][key] = r
                lid = f", language ID {r['language_id_accuracy']:.3f}" if "language_id_accuracy" in r else ""
                if args.json:  # partial results survive an interrupted run
                    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                    Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
                log(f"  {key}: WER {r['wer']:.3f} [{r['wer_ci'][0]:.3f}, {r['wer_ci'][1]:.3f}], CER {r['cer']:.3f} "
                    f"[{r['cer_ci'][0]:.3f}, {r['cer_ci'][1]:.3f}]{lid}, RTF {r['rtf']:.3f} ({time.time() - t0:.0f} s)")
    results["seconds"] = round(time.time() - t0, 1)
    print("| corpus | model | language | WER [95% CI] | CER [95% CI] | language ID (pseudo-calls) | RTF (1 core) |")
    print("|---|---|---|---|---|---|---|")
    for key, r in results["runs"].items():
        corpus, model, label = key.split("/")
        lid = f"{r['language_id_accuracy']:.3f} ({r['pseudo_calls']})" if "language_id_accuracy" in r else "-"
        print(f"| {corpus} | {model} | {label} | {r['wer']:.3f} [{r['wer_ci'][0]:.3f}, {r['wer_ci'][1]:.3f}] | "
              f"{r['cer']:.3f} [{r['cer_ci'][0]:.3f}, {r['cer_ci'][1]:.3f}] | {lid} | {r['rtf']:.3f} |")
    if args.json:
        p = Path(args.json)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(results, indent=2, ensure_ascii=False))
        log(f"wrote {p} ({results['seconds']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
