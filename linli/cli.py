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
            serve(args.host, args.port)


if __name__ == "__main__":
    main(sys.argv[1:])
