"""`vidihand completion bash|zsh|fish`: print the shell code that completes vidihand's
commands, options and file arguments (argcomplete). Install it once, e.g. for bash:

    vidihand completion bash > ~/.local/share/bash-completion/completions/vidihand

or `eval "$(vidihand completion bash)"` in ~/.bashrc.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "completion", help="print the shell completion script (bash, zsh, fish) for vidihand"
    )
    p.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell to complete in")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["vidihand"], shell=args.shell), end="")
    return 0
