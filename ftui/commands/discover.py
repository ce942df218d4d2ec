"""`ftui discover` finds failure clusters in a log without labels; `ftui cluster` edits clusters by hand."""

from __future__ import annotations

import argparse
import textwrap

from ftui.commands.common import EXIT_OK, add_json, add_workspace, emit, load_ws, warn
from ftui.core.curate import edits as cluster_edits
from ftui.core.curate.clusters import ClusterReport
from ftui.core.curate.overlay import Overlay

WIDTH = 80


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("discover", help="group the model's failures into clusters when the log has no labels")
    add_workspace(p)
    add_json(p)
    p.add_argument("--within", metavar="LABEL", help="split the cluster of this log label into sub-clusters")
    p.add_argument(
        "--view",
        choices=("mixed", "topic", "signature"),
        default="mixed",
        help="how failures are grouped: by signature, by topic, or (mixed) a cluster per decisive "
        "signature and the rest by topic",
    )
    p.add_argument("--k", type=int, default=None, help="number of topic clusters (default: chosen by stability)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same items and seed: same clusters)")
    p.add_argument(
        "--embeddings",
        action="store_true",
        help="also group on the workspace model's own embeddings (computed in an engine child, cached)",
    )
    p.add_argument("--llm", action="store_true", help="name the clusters with an LLM (default endpoint: eval.judge)")
    p.add_argument("--llm-url", metavar="URL", help="OpenAI-compatible base_url for --llm")
    p.add_argument("--llm-model", metavar="NAME", help="model name for --llm")
    p.add_argument("--llm-key-env", metavar="VAR", help="environment variable holding the key for --llm")
    p.add_argument("--show-prompt", action="store_true", help="print the prompt sent for each cluster")
    p.set_defaults(func=cmd_discover)

    p = sub.add_parser("cluster", help="rename, merge, split clusters or move items between them")
    ops = p.add_subparsers(dest="op", metavar="OP", required=True)
    q = ops.add_parser("rename", help="give a cluster a new name")
    q.add_argument("old", metavar="NAME")
    q.add_argument("new", metavar="NEW_NAME")
    q = ops.add_parser("merge", help="merge clusters into one")
    q.add_argument("names", metavar="NAME", nargs="+")
    q.add_argument("--into", metavar="NAME", help="name of the merged cluster (default: the first)")
    q = ops.add_parser("split", help="split one cluster into sub-clusters by discovery")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--k", type=int, default=None, help="number of sub-clusters (default: chosen)")
    q.add_argument("--seed", type=int, default=0)
    q = ops.add_parser("move", help="move items to a cluster (an existing one or a new name)")
    q.add_argument("ids", metavar="ID", nargs="+")
    q.add_argument("--to", metavar="NAME", required=True)
    ops.add_parser("undo", help="undo the last rename, merge, split, move or discovery")
    for q in ops.choices.values():
        add_workspace(q, positional=False)
        add_json(q)
        q.set_defaults(func=cmd_cluster)


def _cluster_rows(report: ClusterReport, names: list[str] | None = None) -> list[dict]:
    keep = set(names) if names is not None else None
    return [
        {
            "label": c.label,
            "count": c.count,
            "discovered": c.discovered,
            "description": c.description,
            "candidate": c.candidate,
            "ids": list(c.ids),
        }
        for c in report.clusters
        if keep is None or c.label in keep
    ]


def _render(rows: list[dict], ov: Overlay) -> list[str]:
    lines = []
    w = max([len(r["label"]) for r in rows] + [7])
    w = min(w, 48)
    for r in rows:
        mark = "" if r["discovered"] else "  (log label)"
        lines.append(f"{r['label']:<{w}} {r['count']:>5}{mark}")
        if r["description"]:
            lines.extend(textwrap.wrap(r["description"], WIDTH - 5, initial_indent="    ", subsequent_indent="    "))
        info = ov.info(r["label"])
        if info is not None and info.representatives:
            lines.append("    e.g. " + textwrap.shorten(", ".join(info.representatives), WIDTH - 10))
    return lines


def cmd_discover(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    namer = None
    if args.llm:
        from ftui.core.curate.naming import CACHE_NAME, Namer, endpoint_for

        namer = Namer(endpoint_for(ws, args.llm_url, args.llm_model, args.llm_key_env), ws.state.cache / CACHE_NAME)
    res = cluster_edits.run_discovery(
        ws,
        within=args.within,
        seed=args.seed,
        k=args.k,
        embeddings=args.embeddings,
        view=args.view,
        say=lambda s: warn(s),
    )
    named: list[dict] = []
    if namer is not None:
        named = cluster_edits.name_with_llm(ws, namer, res.names)
        new_name = {p["old"]: p["new"] for p in named}
        res.names = [new_name.get(n, n) for n in res.names]
        res.report = cluster_edits.current_report(ws)
    ov = Overlay.load(ws)
    rows = _cluster_rows(res.report, res.names)
    data = {
        "scope": res.scope or None,
        "run": res.run,
        "inherited": res.inherited,
        "pinned": res.pinned,
        "clusters": rows,
    }
    if namer is not None:
        data["llm"] = {
            "base_url": namer.endpoint.base_url,
            "model": namer.endpoint.model,
            "requests": namer.calls,
            "named": [{"old": p["old"], "new": p["new"], "messages": p["messages"]} for p in named],
        }
    where = f"the failures labeled {args.within!r}" if args.within else "the failures with no label"
    run = res.run
    lines = textwrap.wrap(
        f"Discovered {len(rows)} cluster{'s' if len(rows) != 1 else ''} in {where}: "
        f"{run['items']} items, {cluster_edits.describe_run(run)}, seed {run['seed']}, {run['seconds']:.1f} s"
        + (f", with embeddings from {run['embeddings']}" if run.get("embeddings") else ""),
        WIDTH - 1,
    )
    if res.pinned:
        lines.extend(
            textwrap.wrap(
                f"{res.pinned} item{'s' if res.pinned != 1 else ''} stay where you put them "
                "(moved, merged or split by hand).",
                WIDTH - 1,
            )
        )
    for new, old in res.inherited.items():
        lines.append(f"{new} keeps your name {old}.")
    if named:
        lines.append(
            f"Named by {namer.endpoint.model} at {namer.endpoint.base_url} "
            f"({namer.calls} request{'s' if namer.calls != 1 else ''}, the rest from the cache)."
        )
    if args.show_prompt:
        for p in named:
            lines.append("")
            lines.append(f"--- prompt for {p['old']} -> {p['new']} ---")
            for m in p["messages"]:
                lines.append(f"[{m['role']}]")
                lines.append(m["content"])
    lines.append("")
    lines.extend(_render(rows, ov))
    lines.append("")
    lines.append("The run log is unchanged. Edit these clusters with")
    lines.append("`ftui cluster rename|merge|split|move`; your edits survive a new discovery.")
    emit(args, data, "\n".join(lines))
    return EXIT_OK


def cmd_cluster(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    names = None
    if args.op == "rename":
        report = cluster_edits.rename(ws, args.old, args.new)
        names, msg = [args.new], f"renamed {args.old} to {args.new}"
    elif args.op == "merge":
        report = cluster_edits.merge(ws, args.names, args.into)
        target = args.into or args.names[0]
        names, msg = [target], f"merged {', '.join(args.names)} into {target}"
    elif args.op == "undo":
        report, msg = cluster_edits.undo(ws), "undid the last cluster edit"
    elif args.op == "split":
        report, names = cluster_edits.split(ws, args.name, k=args.k, seed=args.seed)
        msg = f"split {args.name} into {', '.join(names)}"
    else:
        report = cluster_edits.move(ws, args.ids, args.to)
        names, msg = [args.to], f"moved {len(args.ids)} item{'s' if len(args.ids) != 1 else ''} to {args.to}"
    rows = _cluster_rows(report, names)
    emit(args, {"op": args.op, "clusters": rows}, "\n".join([msg, "", *_render(rows, Overlay.load(ws))]))
    return EXIT_OK
