"""Load the serverless entry point the way Vercel's and AWS Lambda's Python runtimes do.

Run as a script, in a process of its own, so the app is built from the environment the test
gives it (as the platforms build it from theirs):

    python tests/platforms.py vercel api.index:app PORT on|off   serve over HTTP on 127.0.0.1
    python tests/platforms.py lambda api.index:handler < events   print the responses as JSON
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent


def load_like_vercel(entrypoint: str) -> Any:
    """What Vercel's runtime does with `[tool.vercel] entrypoint = "module:variable"`: load the
    module's file by path under the module's dotted name, with the project root on sys.path,
    and take the variable."""
    module_name, variable = entrypoint.split(":")
    path = ROOT / f"{module_name.replace('.', '/')}.py"
    sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, variable)


def serve_like_vercel(entrypoint: str, port: int, *, run_lifespan: bool) -> None:
    """Vercel runs the app under uvicorn and its lifespan once per instance; in its older mode
    a lifespan that fails is only logged, so the app must also serve with it never run."""
    import uvicorn  # Vercel bundles its own uvicorn; the app never imports it

    app = load_like_vercel(entrypoint)
    lifespan: Literal["on", "off"] = "on" if run_lifespan else "off"
    uvicorn.run(app, host="127.0.0.1", port=port, lifespan=lifespan, log_level="warning")


def invoke_like_lambda(handler_name: str, events: list[dict[str, Any]]) -> list[Any]:
    """Import the handler's module by name from the task root, as Lambda does, and invoke it
    once per event, each time on a brand-new event loop."""
    module_name, function = handler_name.split(":")
    sys.path.insert(0, str(ROOT))
    handler = getattr(importlib.import_module(module_name), function)
    responses = []
    for number, event in enumerate(events):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            context = SimpleNamespace(aws_request_id=f"request-{number}", function_name="test")
            responses.append(handler(event, context))
        finally:
            asyncio.set_event_loop(None)
            loop.close()
    return responses


def main() -> None:
    platform, target, *arguments = sys.argv[1:]
    if platform == "vercel":
        port, lifespan = arguments
        serve_like_vercel(target, int(port), run_lifespan=lifespan == "on")
    elif platform == "lambda":
        responses = invoke_like_lambda(target, json.load(sys.stdin))
        print(json.dumps(responses))
    else:
        raise SystemExit(f"unknown platform {platform!r}")


if __name__ == "__main__":
    main()
