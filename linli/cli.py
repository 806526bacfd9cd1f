"""The ``linli`` command: everything an operator does, as subcommands over Django's management commands."""

import argparse
import os
import sys


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linli.settings")
    import django

    django.setup()


def serve(host: str, port: int, workers: int = 1, with_worker: bool = True) -> None:
    import uvicorn

    if with_worker:
        from linli.core import worker

        worker.start_in_background()

    print(f"Linli 邻里 is serving on http://{host}:{port}/  (Ctrl+C stops it)", flush=True)
    uvicorn.run(
        "linli.asgi:application", host=host, port=port, workers=workers, log_level="warning", lifespan="off"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="linli", description="Linli 邻里 smart community platform")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="migrate, load the demo district, print the logins and serve")
    demo.add_argument("--scale", choices=["demo", "district"], default="demo")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--no-serve", action="store_true", help="prepare the data and stop")
    demo.add_argument("--reset", action="store_true", help="delete the demo district first and build it anew")
    demo.add_argument("--mqtt-port", type=int, default=1883, help="device gateway port (another if taken)")
    demo.add_argument("--no-ingest", action="store_true", help="no device gateway and simulator")

    run = commands.add_parser("serve", help="serve the web console and API (ASGI)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--workers", type=int, default=1)
    run.add_argument(
        "--no-worker", action="store_true", help="scaled mode: periodic jobs run in `linli worker`"
    )

    commands.add_parser(
        "worker", help="run the periodic jobs (time limits, escalation, sweeps) until stopped"
    )

    commands.add_parser("migrate", help="create or upgrade the database tables")

    admin = commands.add_parser("createadmin", help="create a district administrator")
    admin.add_argument("--username", required=True)
    admin.add_argument("--district", required=True, help="6-digit district code (created if missing)")
    admin.add_argument("--district-name", default="")
    admin.add_argument("--password", help="read from the terminal when omitted")

    totp = commands.add_parser("totp-now", help="print the current two-factor code of a demo account")
    totp.add_argument("username")

    audit = commands.add_parser("audit", help="check the audit log's hash chain")
    audit_actions = audit.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = audit_actions.add_parser("verify", help="report the first edited, deleted or inserted record")
    verify.add_argument(
        "--from", dest="from_seq", type=int, metavar="SEQ", help="start at this sequence number"
    )

    ingest = commands.add_parser("ingest", help="device MQTT gateway, or a worker behind an MQTT broker")
    ingest.add_argument(
        "action", nargs="?", choices=["run", "mosquitto-config", "end-sessions"], default="run"
    )
    ingest.add_argument("--gateway", action="store_true", help="run the device gateway (the default)")
    ingest.add_argument("--host", default="127.0.0.1", help="gateway / Mosquitto listen address")
    ingest.add_argument("--port", type=int, default=1883, help="gateway / Mosquitto listen port")
    ingest.add_argument("--broker", metavar="URL", help="worker mode: mqtt://user:password@host:port")
    ingest.add_argument(
        "--partition",
        default="0/1",
        metavar="I/N",
        help="worker mode: keep the devices of partition I of N (one worker per partition; default 0/1: all)",
    )
    ingest.add_argument(
        "--worker-id", help="worker mode: persistent session name (default: from --partition)"
    )
    ingest.add_argument(
        "--shared",
        action="store_true",
        help="worker mode: read a $share subscription (only for a broker that dispatches by publisher)",
    )
    ingest.add_argument("--no-downlink", action="store_true", help="this worker does not publish downlink")
    ingest.add_argument("--out", default="var/mosquitto", help="mosquitto-config: output directory")
    ingest.add_argument(
        "--processes",
        type=int,
        default=1,
        help="gateway processes sharing the port (SO_REUSEPORT), or broker-mode workers, one per partition",
    )
    ingest.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set for children

    simulate = commands.add_parser("simulate", help="the demo district's devices reporting over MQTT")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=1883)
    simulate.add_argument("--broker", action="store_true", help="use broker-mode topics v1/devices/{token}/…")
    simulate.add_argument("--devices", type=int, help="only the first N devices")
    simulate.add_argument("--interval", type=float, help="seconds between reports (default: each profile's)")
    simulate.add_argument("--duration", type=float, help="stop after this many seconds")

    manage = commands.add_parser("manage", help="run any Django management command")
    manage.add_argument("args", nargs=argparse.REMAINDER)

    args = parser.parse_args(argv)
    _setup_django()
    from django.core.management import call_command, execute_from_command_line

    if args.command == "manage":
        execute_from_command_line(["linli manage", *args.args])
    elif args.command == "migrate":
        call_command("migrate", interactive=False)
    elif args.command == "serve":
        serve(args.host, args.port, args.workers, with_worker=not args.no_worker)
    elif args.command == "worker":
        import threading

        from linli.core import worker

        print("Linli worker running (Ctrl+C stops it)", flush=True)
        try:
            worker.run_forever(threading.Event())
        except KeyboardInterrupt:
            pass
    elif args.command == "createadmin":
        call_command(
            "createadmin",
            username=args.username,
            district=args.district,
            district_name=args.district_name,
            password=args.password,
        )
    elif args.command == "audit":
        start = ["--from", str(args.from_seq)] if args.from_seq is not None else []
        execute_from_command_line(["linli", "audit", args.audit_action, *start])
    elif args.command == "totp-now":
        call_command("totp_now", args.username)
    elif args.command == "demo":
        call_command("migrate", interactive=False, verbosity=0)
        call_command("demo_district", scale=args.scale, reset=args.reset)
        if not args.no_serve:
            if not args.no_ingest:
                from linli.ingest.service import Embedded

                Embedded(port=args.mqtt_port).start()  # device gateway + simulator in this process
            serve(args.host, args.port)
    elif args.command == "ingest":
        from linli.ingest import service

        service.setup_logging()
        if args.action == "mosquitto-config":
            service.mosquitto_config(args.out, args.host, args.port)
        elif args.action == "end-sessions" and not args.broker:
            parser.error("end-sessions needs --broker URL")
        elif args.broker:
            from linli.ingest.broker import parse_partition, session_name

            try:
                partition = parse_partition(args.partition)
            except ValueError as exc:
                parser.error(str(exc))
            if args.action == "end-sessions":  # --processes N: all N partitions' sessions
                if args.processes > 1:
                    names = [session_name((i, args.processes)) for i in range(args.processes)]
                else:
                    names = [session_name(partition, args.worker_id)]
                service.end_sessions(args.broker, names)
            elif partition[1] > 1 and (args.processes > 1 or args.shared):
                parser.error(
                    "--partition goes with neither --processes (which runs every partition) nor --shared"
                )
            else:
                service.run_broker(
                    args.broker,
                    args.worker_id,
                    downlink=not args.no_downlink,
                    partition=partition,
                    processes=args.processes,
                    shared=args.shared,
                )
        else:
            service.run_gateway(args.host, args.port, processes=args.processes, reuse_port=args.reuse_port)
    elif args.command == "simulate":
        from linli.ingest import service

        service.simulate(
            args.host,
            args.port,
            broker=args.broker,
            devices=args.devices,
            interval=args.interval,
            duration=args.duration,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
