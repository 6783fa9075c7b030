"""Routes added to the app itself rather than through an included router.

    include_routes(app, items.router)       in place of app.include_router(items.router)

FastAPI keeps an included router as a node of its own, and every request walks through it,
and through what it inherits from the app, before it reaches a route: measured under callgrind,
about 60,000 instructions on each `/health` and 130,000 on each item read (BENCHMARKS.md).
Copying each route onto the app, with everything the router gave it (prefix, tags, responses,
dependencies), gives the same routes and the same OpenAPI document (tests/test_openapi.py)
without that walk. What the app adds (its responses, its operation IDs) is added as it would
be to a route included the usual way.

Only plain HTTP routes are copied; a router with anything else (a WebSocket route, a router
included in it) is refused rather than half copied: include it with `app.include_router`.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute


def include_routes(app: FastAPI, router: APIRouter) -> None:
    """Add every route of `router` to `app` itself, as `app.include_router(router)` would."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"only HTTP routes can be copied, not {route!r}")
        app.router.add_api_route(
            route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=route.tags,
            dependencies=route.dependencies,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type,
            max_body_size=route.max_body_size,
        )
