"""Command line: ``python -m grasp_agent.experiments run <config> [key=value ...]`` (also ``grasp-agent``).

Commands:
    run <config> [overrides]   run an experiment; prints the results table and the run dir
                               (--resume: continue an interrupted horizon sweep in its dir;
                               --backend ray [--address A] [--num-cpus N]: run its cells on Ray)
    show <config> [overrides]  print the resolved, validated config without running it
    list                       list the bundled configs
    report <run dir> [...]     print the tables of a run from its metrics (works on a run that
                               was interrupted: metrics are written after every cell); several
                               runs of one family are reported as one table (a cell held by
                               several runs is taken from the last); --out DIR also writes
                               results.md, plots/*.png and the source configs there

``<config>`` is a path to a YAML file or the name of a bundled config (``quickstart``,
``horizon_sweep``, ``horizon_sweep_smoke``, ...). Overrides are dotted keys parsed as YAML,
e.g. ``tasks.count=4`` or ``"horizons=[25, 50]"``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from grasp_agent.experiments.backends import BackendError
from grasp_agent.experiments.config import CONFIG_DIR, ConfigError, dump_yaml, load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grasp-agent", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an experiment from a config")
    run.add_argument("config", help="a .yaml path or a bundled config name")
    run.add_argument("overrides", nargs="*", help="key.path=value overrides (YAML values)")
    run.add_argument("--out", default="runs", help="parent directory of run directories")
    run.add_argument("--no-tensorboard", action="store_true", help="skip TensorBoard logs")
    run.add_argument("--resume", action="store_true",
                     help="horizon sweeps: reopen this config's run directory and skip finished cells")
    run.add_argument("--backend", choices=("inprocess", "ray"), default="inprocess",
                     help="horizon sweeps: run the cells in this process (default) or as Ray tasks "
                          "(pip install 'grasp-agent[ray]'); same results either way")
    run.add_argument("--address", default=None,
                     help="--backend ray: join a running cluster (auto, HOST:PORT or ray://HOST:PORT) "
                          "instead of starting a local Ray instance")
    run.add_argument("--num-cpus", type=int, default=None,
                     help="--backend ray: CPUs of the local Ray instance (default: all of this machine's)")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    show = sub.add_parser("show", help="print the resolved config")
    show.add_argument("config")
    show.add_argument("overrides", nargs="*")
    sub.add_parser("list", help="list bundled configs")
    report = sub.add_parser("report", help="re-render the tables of a (possibly interrupted) run")
    report.add_argument("run_dir", nargs="+",
                        help="run directories (config.yaml and metrics.json) of one experiment family")
    report.add_argument("--out", default=None,
                        help="also write results.md, plots/*.png and configs/*.yaml of the joined runs here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for an invalid config)."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    # overrides may follow options (`run quickstart --out x tasks.count=2`)
    bad = [e for e in extra if e.startswith("-") or "=" not in e or args.command in ("list", "report")]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    if args.command == "list":
        for path in sorted(CONFIG_DIR.glob("*.yaml")):
            first = next((ln[2:].strip() for ln in path.read_text().splitlines()
                          if ln.startswith("# ")), "")
            print(f"{path.stem:28s} {first}")
        return 0
    if args.command == "report":
        from grasp_agent.experiments.report import load_runs, render_rows, write_report

        try:
            cfg, rows, replaced = load_runs(*args.run_dir)
            print(render_rows(cfg, rows))
            if replaced:
                print(f"note: {replaced} cell(s) held by several runs were taken from the last run given",
                      file=sys.stderr)
            if args.out is not None:
                print(f"report written: {write_report(args.out, *args.run_dir)}", file=sys.stderr)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        cfg = load_config(args.config, args.overrides)
        if args.command == "show":
            print(dump_yaml(cfg), end="")
            return 0
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        from grasp_agent.experiments.runner import run_experiment

        run_dir = run_experiment(cfg, args.out, tensorboard=not args.no_tensorboard, resume=args.resume,
                                 backend=args.backend, address=args.address, num_cpus=args.num_cpus)
    except ConfigError as err:
        print(f"error: invalid config: {err}", file=sys.stderr)
        return 2
    except BackendError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    results = run_dir.path / "results.md"
    if results.exists():
        print(results.read_text())
    print(f"run directory: {run_dir.path}  ({run_dir.summary.get('wall_time_s', 0.0):.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
