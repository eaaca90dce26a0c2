"""Dify's error shape: `{"error_code", "error_msg"}` with the HTTP status that goes with the code."""

from __future__ import annotations

from fastapi.responses import JSONResponse


class ApiError(Exception):
    def __init__(self, code: int, status: int, msg: str):
        super().__init__(msg)
        self.code, self.status, self.msg = code, status, msg


def bad_request(msg: str) -> ApiError:
    return ApiError(3001, 400, msg)


def error_response(err: ApiError) -> JSONResponse:
    return JSONResponse({"error_code": err.code, "error_msg": err.msg}, status_code=err.status)
