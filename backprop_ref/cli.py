"""The `backprop-course` command."""
import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(prog="backprop-course", description="backprop-course: tools for learners and instructors")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("exercises", help="list every graded exercise: id, points, signature")
    args = parser.parse_args(argv)
    if args.command == "exercises":
        from .grading import list_exercises

        print(list_exercises())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
