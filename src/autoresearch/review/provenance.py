"""How a run's scores were measured, for the records a reviewer reads (summary.md, the review commit):
the target, judge and mutator models, whether the simulator gave the scores, and the suite behind them."""

from __future__ import annotations

from pathlib import Path


def simulated(name: str) -> bool:
    """Whether a model name is the offline simulator: `sim`, or a harness on it (`claude-code:sim`, `pi:sim`)."""
    return name == "sim" or name.endswith(":sim")


def run_models(config: dict) -> dict[str, str]:
    """The run's target, judge and mutator as recorded in run.json (names given on resume take precedence)."""
    info, chosen = config.get("info") or {}, config.get("models") or {}
    return {role: str(chosen.get(key) or info.get(role) or "") for role, key in
            (("model", "model"), ("judge", "judge"), ("mutator", "mutator"))}


def measured_with(config: dict) -> list[str]:
    """Lines naming the models and saying plainly when the scores come from the simulator."""
    models = run_models(config)
    lines = [f"target model: {models['model'] or 'unknown'}; judge: {models['judge'] or 'unknown'}; "
             f"mutator: {models['mutator'] or 'unknown'}"]
    if simulated(models["model"]):
        lines.append("scores come from the offline simulator, not a language model: they show that the loop and "
                     "the suite work, not how a real model would do with this skill")
    elif simulated(models["judge"]):
        lines.append("the judge is the offline simulator (keyword matching): judge evals were not graded by a model")
    return lines


def suite_line(config: dict, suite_path: Path) -> str:
    """The suite behind the scores: its path and fingerprint (see fingerprint.py)."""
    from ..suite.fingerprint import short

    fingerprint = short(config.get("fingerprint"))
    return f"suite: {suite_path}" + (f" (fingerprint {fingerprint})" if fingerprint else "")


def suite_files(suite_path: Path) -> list[Path]:
    """The suite file and the files it reads (input files, fixtures, python checks) that exist, for a commit."""
    import yaml

    folder = suite_path.parent
    try:
        data = yaml.safe_load(suite_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return [suite_path]
    named: list[str] = []
    for item in data.get("inputs") or [] if isinstance(data, dict) else []:
        if isinstance(item, dict):
            named += [item["file"]] if isinstance(item.get("file"), str) else []
            named += [f for f in item.get("files") or [] if isinstance(f, str)]
    if isinstance(data, dict) and isinstance(data.get("holdout_file"), str):
        named.append(data["holdout_file"])  # sealed or plain: the holdout travels with the suite
    for ev in data.get("evals") or [] if isinstance(data, dict) else []:
        check = ev.get("check") if isinstance(ev, dict) else None
        if isinstance(check, dict) and check.get("type") in ("python", "not-python") and isinstance(check.get("value"), str):
            named.append(check["value"].partition(":")[0])
    found = [suite_path] + [folder / name for name in dict.fromkeys(named) if (folder / name).is_file()]
    return list(dict.fromkeys(found))
