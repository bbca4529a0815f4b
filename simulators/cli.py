"""Run one simulator in the foreground: `python -m simulators odoo --port 8069` (or `manage.py run_simulator`)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading


def _odoo(args: argparse.Namespace):
    from .odoo import OdooSimulator
    from .odoo.seed import demo_world, transcript_world

    sim = OdooSimulator(args.host, args.port, version=args.version)
    if args.world == "demo":
        demo_world(sim, count=args.deliveries, seed=args.seed)
    elif args.world == "transcripts":
        transcript_world(sim)
    if args.push_url:
        sim.add_webhook_automation(args.push_url)
    if args.validate_every:
        sim.start_warehouse(args.validate_every)
    return sim


def _aftership(args: argparse.Namespace):
    from .aftership import AfterShipSimulator

    sim = AfterShipSimulator(
        args.host,
        args.port,
        api_keys=args.api_key or ["asat_test_key"],
        webhook_urls=args.webhook_url or [],
        webhook_secret=args.webhook_secret,
        time_scale=args.time_scale,
        seed=args.seed,
    )
    sim.faults.latency = args.latency
    sim.faults.error_rate = args.error_rate
    if args.move_every:
        sim.start_carriers(step_seconds=args.move_every)
    return sim


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simulators", description=__doc__)
    sub = parser.add_subparsers(dest="service", required=True)

    odoo = sub.add_parser("odoo", help="Odoo 18 external API (JSON-RPC; JSON-2 with --version 19)")
    odoo.add_argument("--host", default="127.0.0.1")
    odoo.add_argument("--port", type=int, default=8069)
    odoo.add_argument("--version", type=int, default=18, choices=[18, 19])
    odoo.add_argument("--world", choices=["demo", "transcripts", "empty"], default="demo")
    odoo.add_argument("--deliveries", type=int, default=40, help="validated deliveries in the demo world")
    odoo.add_argument("--seed", type=int, default=18)
    odoo.add_argument("--push-url", help="URL the 'delivery validated' automation rule posts to")
    odoo.add_argument(
        "--validate-every", type=float, default=0, help="seconds between deliveries the warehouse validates"
    )
    odoo.set_defaults(build=_odoo)

    aftership = sub.add_parser("aftership", help="AfterShip Tracking API 2026-07 and its webhooks")
    aftership.add_argument("--host", default="127.0.0.1")
    aftership.add_argument("--port", type=int, default=8070)
    aftership.add_argument("--api-key", action="append", help="accepted API key (repeatable)")
    aftership.add_argument("--webhook-url", action="append", help="where tracking updates are posted (repeatable)")
    aftership.add_argument("--webhook-secret", default="whsec-current")
    aftership.add_argument("--time-scale", type=float, default=1.0, help="multiplies webhook retry delays")
    aftership.add_argument(
        "--move-every", type=float, default=0, help="seconds between carrier scans (0: parcels stay)"
    )
    aftership.add_argument("--latency", type=float, default=0.0)
    aftership.add_argument("--error-rate", type=float, default=0.0)
    aftership.add_argument("--seed", type=int, default=None)
    aftership.set_defaults(build=_aftership)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sim = args.build(args)
    # stop() must not run on the serving thread itself (it waits for that thread to finish).
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=sim.stop).start())
    print(f"{args.service} simulator listening on http://{args.host}:{sim.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sim.serve_forever()
