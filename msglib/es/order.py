"""The course's order: placed, paid, shipped or cancelled.

Events (data fields):
    OrderPlaced    {user_id, items: [{sku, qty, price}], total}
    OrderPaid      {amount}
    OrderShipped   {}
    OrderCancelled {reason}

Status moves only forward: placed -> paid -> shipped, and placed|paid -> cancelled.
Prices and totals are integers (cents).
"""
from __future__ import annotations

from typing import Any

from msglib.es.aggregate import Aggregate
from msglib.es.errors import DomainError

STATUSES = ("placed", "paid", "shipped", "cancelled")


class Order(Aggregate):
    stream_prefix = "order"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.user_id: str | None = None
        self.items: list[dict[str, Any]] = []
        self.total = 0
        self.status: str | None = None

    @classmethod
    def place(cls, id: str, user_id: str, items: list[dict[str, Any]]) -> "Order":
        if not isinstance(user_id, str) or not user_id:
            raise DomainError(f"order {id!r}: user_id must be a non-empty string, got {user_id!r}")
        if not items:
            raise DomainError(f"order {id!r}: an order needs at least one item")
        clean = []
        for item in items:
            sku, qty, price = item.get("sku"), item.get("qty"), item.get("price")
            if not isinstance(sku, str) or not sku:
                raise DomainError(f"order {id!r}: every item needs a sku string, got {item!r}")
            if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
                raise DomainError(f"order {id!r}: item {sku!r} quantity must be a positive integer, got {qty!r}")
            if isinstance(price, bool) or not isinstance(price, int) or price < 0:
                raise DomainError(f"order {id!r}: item {sku!r} price must be an integer >= 0 (cents), got {price!r}")
            clean.append({"sku": sku, "qty": qty, "price": price})
        order = cls(id)
        order.record("OrderPlaced", user_id=user_id, items=clean,
                     total=sum(i["qty"] * i["price"] for i in clean))
        return order

    def pay(self, amount: int) -> None:
        self._require("pay", "placed")
        if amount != self.total:
            raise DomainError(f"order {self.id!r}: payment {amount!r} does not match the total {self.total}")
        self.record("OrderPaid", amount=amount)

    def ship(self) -> None:
        self._require("ship", "paid")
        self.record("OrderShipped")

    def cancel(self, reason: str = "") -> None:
        self._require("cancel", "placed", "paid")
        self.record("OrderCancelled", reason=reason)

    def _require(self, action: str, *allowed: str) -> None:
        if self.status is None:
            raise DomainError(f"order {self.id!r} was never placed; place it before you {action}")
        if self.status not in allowed:
            raise DomainError(f"order {self.id!r} is {self.status}, so it cannot {action} "
                              f"(only a {' or '.join(allowed)} order can)")

    def when_OrderPlaced(self, data: dict[str, Any]) -> None:
        self.user_id = data["user_id"]
        self.items = data["items"]
        self.total = data["total"]
        self.status = "placed"

    def when_OrderPaid(self, data: dict[str, Any]) -> None:
        self.status = "paid"

    def when_OrderShipped(self, data: dict[str, Any]) -> None:
        self.status = "shipped"

    def when_OrderCancelled(self, data: dict[str, Any]) -> None:
        self.status = "cancelled"
