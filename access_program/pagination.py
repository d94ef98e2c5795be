"""Paging a SQLAlchemy select: for flask-smorest (X-Pagination header) and for pages."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import request, url_for
from flask_smorest import Page

from access_program.db import db


def count_of(query: sa.Select) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )


class SelectPage(Page):
    """flask-smorest pager over a ``select()``: one COUNT and one page query."""

    @property
    def items(self) -> list[Any]:
        query = self.collection.limit(self.page_params.page_size).offset(
            self.page_params.first_item
        )
        return list(db.session.scalars(query).unique())

    @property
    def item_count(self) -> int:
        return count_of(self.collection)


@dataclass
class PageResult:
    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def _url(self, page: int) -> str:
        args = {**request.view_args, **request.args.to_dict(), "page": page}
        return url_for(request.endpoint, **args)

    @property
    def prev_url(self) -> str | None:
        return self._url(self.page - 1) if self.has_prev else None

    @property
    def next_url(self) -> str | None:
        return self._url(self.page + 1) if self.has_next else None


def paginate(query: sa.Select, per_page: int = 50) -> PageResult:
    """Pages: ``?page=N`` (bad values fall back to 1)."""
    page = request.args.get("page", 1, type=int) or 1
    page = max(page, 1)
    total = count_of(query)
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique())
    return PageResult(items, page, per_page, total)
