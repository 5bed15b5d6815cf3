"""The markdown table of a harness run (``latest.md``), made from the results dict."""

from __future__ import annotations

from typing import Any

__all__ = ["markdown"]

TARGET_N = "500"


def _t(s: Any) -> str:
    if not isinstance(s, (int, float)):
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1.0:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def _x(r: Any) -> str:
    return (
        f"{r:,.0f}×"
        if isinstance(r, (int, float)) and r >= 10
        else (f"{r:.2g}×" if isinstance(r, (int, float)) else "–")
    )


def _err(text: Any, width: int = 140) -> str:
    text = str(text).replace("|", "/")
    return text if len(text) <= width else text[: width - 1] + "…"


def _met(flag: Any) -> str:
    return "–" if flag is None else ("met" if flag else "**missed**")


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    v = m["versions"]
    lines = [
        "| Case | N | Ours | Reference | Ratio | Target | |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for n, o in res.get("optimizer", {}).items():
        if "error" in o:
            lines.append(f"| Optimizer: median per-review solve | {n} | – | – | – | – | {_err(o['error'])} |")
            continue
        tgt = "< 10 ms" if n == TARGET_N else ""
        lines.append(
            f"| Optimizer: median per-review solve, compiled once vs cvxpy built from scratch | {n} "
            f"| {_t(o['compiled_median_s'])} | {_t(o['scratch_median_s'])} "
            f"| {_x(o['ratio_scratch_over_compiled'])} | {tgt} "
            f"| {_met(o['target_compiled_median_lt_10ms']) if tgt else ''} |"
        )
        lines.append(
            f"| Optimizer: same, vs the compiled cvxpy model re-solved (DPP) | {n} "
            f"| {_t(o['compiled_median_s'])} | {_t(o['compiled_cvxpy_median_s'])} "
            f"| {_x(o['ratio_compiled_cvxpy_over_compiled'])} | | |"
        )
    for n, b in res.get("backtest", {}).items():
        if "error" in b:
            lines.append(f"| Whole backtest | {n} | – | – | – | – | {_err(b['error'])} |")
            continue
        split = (
            f"pipeline {_t(b['ours_review_pipeline_s'])}, solver {_t(b['ours_solver_s'])}, "
            f"engine {_t(b['ours_engine_s'])}"
        )
        checks = b.get("cvxportfolio_checks")
        peer_name = f"cvxportfolio ({checks['rebalances']} quarterly rebalances)" if checks else "cvxportfolio"
        peer = _t(b["cvxportfolio_s"]) if "cvxportfolio_s" in b else "–"
        ratio = _x(b["ratio"]) if "ratio" in b else "–"
        note = _err(b["cvxportfolio_error"]) if "cvxportfolio_error" in b else ""
        tgt, met = "", ""
        if n == TARGET_N:
            tgt = "≤ 0.6 s; ≥ 10×"
            met = f"{_met(b['target_met'])}; {_met(b.get('target_ratio_met'))}"
        remark = " ".join(x for x in (met, note) if x)
        lines.append(
            f"| Whole backtest, {b['reviews']} reviews ({split}) vs {peer_name} | {n} "
            f"| {_t(b['ours_total_s'])} | {peer} | {ratio} | {tgt} | {remark} |"
        )
    for n, e in res.get("engine", {}).items():
        if "error" in e:
            lines.append(f"| Engine | {n} | – | – | – | – | {_err(e['error'])} |")
            continue
        agree = " (levels agree)" if e.get("bt_agrees") else " (**levels differ**)"
        if "bt_s" in e:
            tgt = "≥ 200×" if n == TARGET_N else ""
            lines.append(
                f"| Engine vs bt{agree}, {e['rows']:,} days × {e['reviews']} reviews | {n} "
                f"| {_t(e['ours_s'])} | {_t(e['bt_s'])} | {_x(e['ratio_bt_over_ours'])} "
                f"| {tgt} | {_met(e['target_bt_ge_200x']) if tgt else ''} |"
            )
        else:
            lines.append(f"| Engine vs bt | {n} | {_t(e['ours_s'])} | not run | – | | |")
        if "naive_s" in e:
            agree = "" if e.get("naive_agrees") else " (**levels differ**)"
            lines.append(
                f"| Engine vs naive pandas loop{agree} | {n} | {_t(e['ours_s'])} "
                f"| {_t(e['naive_s'])} | {_x(e['ratio_naive_over_ours'])} | | |"
            )
        tgt = "≤ 10×" if n == TARGET_N else ""
        lines.append(
            f"| Engine vs hardware floor (`np.sum` of returns) | {n} | {_t(e['ours_s'])} "
            f"| {_t(e['floor_s'])} | {_x(e['floor_ratio'])} | {tgt} "
            f"| {_met(e['target_floor_le_10x']) if tgt else ''} |"
        )
        lines.append(
            f"| Engine, full inputs (TR, NTR, NAV, delistings, costs) vs floor | {n} "
            f"| {_t(e['ours_full_s'])} | {_t(e['floor_s'])} | {_x(e['floor_ratio_full'])} | | |"
        )
    e2e = res.get("e2e")
    if e2e:
        if e2e.get("ok"):
            lines.append(
                f"| End to end: `allied_demo.toml` ({e2e['reviews']} reviews, tearsheet) "
                f"| 63 | {_t(e2e['wall_s'])} | – | – | < 20 s | {_met(e2e['target_lt_20s'])} |"
            )
        else:
            lines.append(
                f"| End to end: `allied_demo.toml` | 63 | failed | – | – | < 20 s | {_err(e2e.get('error', ''))} |"
            )
    st = res.get("startup")
    if st and "help_s" in st:
        lines.append(
            f"| CLI start-up: `exchina-index --help` vs `import cvxpy, quantstats, yfinance` "
            f"| – | {_t(st['help_s'])} | {_t(st['heavy_imports_s'])} "
            f"| {_x(st['ratio_heavy_over_help'])} | < 0.5 s | {_met(st['target_help_lt_0_5s'])} |"
        )
    elif st:
        lines.append(f"| CLI start-up | – | failed | | | < 0.5 s | {_err(st.get('error', ''))} |")

    out = [
        f"Machine: {m['cpu_model']}, {m['cpus_usable']} CPUs; Python {m['python']}, numpy "
        f"{v['numpy']}, pandas {v['pandas']}, cvxpy {v['cvxpy']} (Clarabel {v['clarabel']}), bt "
        f"{v['bt']}, cvxportfolio {v.get('cvxportfolio')}. Load average at start "
        f"{_load(res.get('load_average_start'))}, end "
        f"{_load(res.get('load_average_end'))}. Harness wall time {_t(res.get('total_s'))}. "
        f"Commit {res['git'].get('commit')}{' (dirty)' if res['git'].get('dirty') else ''}.",
        "",
        *lines,
        "",
        "Ratio = reference / ours (for the floor: ours / floor). Targets are checked at N = 500.",
    ]
    if res.get("optimizer"):
        out += [
            "",
            "Optimizer details (sampled reviews of ~80; B&B = regulatory branch and bound):",
            "",
            "| N | reviews solved / sampled | eligible (median) | compiled: median of reviews without "
            "branching, p90, max | B&B nodes mean / max (reviews branching) | review pipeline per "
            "review, excl. solves | cvxpy vs direct max abs weight diff |",
            "|---:|---|---:|---|---|---:|---:|",
        ]
        for n, o in res["optimizer"].items():
            if "error" in o:
                continue
            out.append(
                f"| {n} | {o['reviews']} / {o['reviews_sampled']} | {o['eligible_median']:.0f} "
                f"| {_t(o.get('compiled_median_convex_reviews_s'))}, {_t(o['compiled_p90_s'])}, "
                f"{_t(o['compiled_max_s'])} "
                f"| {o['bnb_nodes_mean']:.1f} / {o['bnb_nodes_max']} ({o['reviews_needing_branching']}) "
                f"| {_t(o['review_pipeline_excl_solve_median_s'])} "
                f"| {o['max_abs_weight_diff_cvxpy_vs_compiled']:.1e} |"
            )
    checked = {n: b["cvxportfolio_checks"] for n, b in res.get("backtest", {}).items() if "cvxportfolio_checks" in b}
    if checked:
        out += [
            "",
            "cvxportfolio's backtest, checked (post-trade weights at its rebalances; active share = half "
            "the sum of |weight - capped cap weight|; participation = `max_fraction_of_volumes`):",
            "",
            "| N | rebalances | max weight (cap 8 %) | cash mean / max | active share median / max "
            "| participation | final value / initial | policy / simulator time |",
            "|---:|---|---:|---|---|---:|---:|---|",
        ]
        for n, c in checked.items():
            part = res["backtest"][n].get("cvxportfolio_participation")
            out.append(
                f"| {n} | {c['rebalances']} ({c['first_rebalance']} to {c['last_rebalance']}) "
                f"| {c['max_weight']:.4%}{'' if c['cap_respected'] else ' (**over**)'} "
                f"| {c['cash_mean']:.2%} / {c['cash_max']:.2%} "
                f"| {c['active_share_median']:.3%} / {c['active_share_max']:.2%} "
                f"| {part:.4g} | {c['final_value_over_initial']:.3f} | {_t(c['policy_s'])} / {_t(c['simulator_s'])} |"
            )
    if e2e and e2e.get("ok"):
        s = e2e["stages_s"]
        out += [
            "",
            "End-to-end stages (child process; the wall time also includes interpreter start-up and exit, "
            f"{_t(e2e['interpreter_start_s'])}):",
            "",
            "| " + " | ".join(s) + " | solver (in reviews) |",
            "|" + "---:|" * (len(s) + 1),
            "| " + " | ".join(_t(x) for x in s.values()) + f" | {_t(e2e['solver_s'])} |",
        ]
    return "\n".join(out) + "\n"


def _load(x: Any) -> str:
    return "–" if not x else f"{x[0]:.1f}"
