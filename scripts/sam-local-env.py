#!/usr/bin/env python3
"""Prints, as one JSON object, the environment `sam local invoke FUNCTION` gives a function.

    scripts/sam-local-env.py PushFunction --env-vars env.json
    scripts/sam-local-env.py PullFunction --parameter-overrides DestinationUrl=https://x.test
    scripts/sam-local-env.py --emulator


It drives SAM CLI's own code, the pieces `sam local invoke` runs before it starts a
container: InvokeContext reads the template (with --parameter-overrides) and the
--env-vars file, SamFunctionProvider finds the function, and LocalLambdaRunner builds its
EnvironmentVariables (the template's variables, overridden by the shell, overridden by the
file; every other key of the file dropped), which resolve() turns into the variables the
container gets. Only the container itself (Docker) is left out, so this runs without Docker.

`make tools` installs SAM CLI (the `aws-sam-cli` package, imported as `samcli`).
`tests/sam_local.rs` runs this script.
"""

import argparse
import json
import os
import platform
import sys

try:
    from samcli.commands.local.cli_common.invoke_context import InvokeContext
    from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.local.docker.lambda_image import LambdaImage
    from samcli.local.docker.utils import get_rapid_name
except ImportError as error:
    sys.exit(f"sam-local-env: SAM CLI is not installed ({error}): run `make tools`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("function", nargs="?", help="logical id, e.g. PushFunction")
    parser.add_argument("--emulator", action="store_true", help="print the emulator's path")
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--env-vars", help="as `sam local invoke --env-vars`")
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, as `sam local invoke --parameter-overrides`",
    )
    args = parser.parse_args()
    if args.emulator:
        architecture = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
        machine = platform.machine().lower()
        if machine not in architecture:
            sys.exit(f"sam-local-env: SAM CLI ships no runtime emulator for {machine}")
        print(LambdaImage._RAPID_SOURCE_PATH / get_rapid_name(architecture[machine]))
        return
    if not args.function:
        parser.error("name the function, e.g. PushFunction")
    overrides = dict(item.split("=", 1) for item in args.parameter_overrides)

    # The context's constructor and helpers, as `sam local invoke` calls them; its
    # __enter__ is not called, since that connects to Docker first.
    context = InvokeContext(
        template_file=args.template,
        function_identifier=args.function,
        env_vars_file=args.env_vars,
        parameter_overrides=overrides,
    )
    provider = SamFunctionProvider(context._get_stacks())
    runner = LocalLambdaRunner(
        local_runtime=None,
        function_provider=provider,
        cwd=os.getcwd(),
        real_path=os.path.dirname(os.path.abspath(args.template)),
        env_vars_values=context._get_env_vars_value(args.env_vars),
    )
    function = runner.get_function(args.function)
    environment = runner.get_invoke_config(function).env_vars.resolve()
    json.dump(environment, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
