"""API routers; each is mounted under ``/api/v1`` with the permission check applied."""

from fastapi import APIRouter

from service.routes import audit, health, projects, users

ROUTERS: list[APIRouter] = [health.router, users.router, projects.router, audit.router]

__all__ = ["ROUTERS"]
