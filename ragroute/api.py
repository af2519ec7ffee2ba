"""The HTTP API: `POST /ask` (Self-Route answers with citations), `GET /healthz`, OpenAPI at /openapi.json."""

from __future__ import annotations

import hmac
import time
from collections import defaultdict, deque

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from ragroute import __version__
from schemas.api import AskRequest, AskResponse, Health, Problem
from schemas.settings import Settings
from tasks.clients import services
from tasks.routing.ask import Asker, AskError

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class RateLimiter:
    """At most `per_minute` requests per client address in any sliding minute."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        window = self.seen[client]
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        return True


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="ragroute",
        version=__version__,
        description="Self-Route answers over ingested documents, with checked citations.",
    )
    limiter = RateLimiter(settings.api_rate_limit_per_minute)
    askers: dict[str | None, Asker] = {}

    @app.middleware("http")
    async def limit_size_and_rate(request: Request, call_next):
        declared = request.headers.get("content-length")
        if declared and (not declared.isdigit() or int(declared) > settings.api_max_body_bytes):
            return JSONResponse({"detail": f"request body over {settings.api_max_body_bytes} bytes"}, 413)
        if request.method == "POST":
            body = await request.body()
            if len(body) > settings.api_max_body_bytes:
                return JSONResponse({"detail": f"request body over {settings.api_max_body_bytes} bytes"}, 413)
            client = request.client.host if request.client else "unknown"
            if not limiter.allow(client):
                return JSONResponse({"detail": "rate limit exceeded"}, 429, headers={"Retry-After": "60"})
        return await call_next(request)

    def check_key(x_api_key: str | None = Header(default=None)) -> None:
        expected = settings.api_key.get_secret_value() if settings.api_key else None
        if expected and not (x_api_key and hmac.compare_digest(x_api_key, expected)):
            raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        version, models = services.weaviate_version(settings), services.llm_models(settings)
        return Health(
            status="ok" if version and models else "degraded", weaviate_version=version, llm_models=models
        )

    @app.post(
        "/ask",
        response_model=AskResponse,
        dependencies=[Depends(check_key)],
        responses={
            400: {"model": Problem},
            401: {"model": Problem},
            413: {"model": Problem},
            429: {"model": Problem},
        },
    )
    def ask(request: AskRequest) -> AskResponse:
        asker = askers.get(request.collection) or askers.setdefault(
            request.collection, Asker(settings, request.collection)
        )
        try:
            result = asker.ask(request.question, method=request.method, k=request.k)
        except AskError as error:
            raise HTTPException(status_code=400, detail=str(error)) from error
        return AskResponse.model_validate(result.to_dict())

    return app
