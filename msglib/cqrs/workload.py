"""Seeded random order traffic, for tests, graders, benchmarks and notebook pictures."""
from __future__ import annotations

import random

from msglib.cqrs.commands import (CancelOrder, Command, CommandHandler, CommandRejected, PayOrder, PlaceOrder,
                                  ShipOrder)
from msglib.es.store import EventStore

SKUS = ("pen", "ink", "pad", "cup", "mug")


def random_order_commands(rng: random.Random, n: int, users: int = 4) -> list[Command]:
    """``n`` commands over a few users: mostly valid, some that the aggregates refuse
    (paying twice, shipping a cancelled order...), as real traffic has."""
    commands: list[Command] = []
    orders: list[tuple[str, int]] = []   # (order id, total) placed so far
    for _ in range(n):
        roll = rng.random()
        if roll < 0.4 or not orders:
            oid = f"o{len(orders) + 1}"
            items = tuple({"sku": rng.choice(SKUS), "qty": rng.randint(1, 3), "price": rng.randint(1, 20) * 50}
                          for _ in range(rng.randint(1, 3)))
            commands.append(PlaceOrder(oid, f"u{rng.randrange(users)}", items))
            orders.append((oid, sum(i["qty"] * i["price"] for i in items)))
        else:
            oid, total = rng.choice(orders)
            if roll < 0.7:
                commands.append(PayOrder(oid, total))
            elif roll < 0.87:
                commands.append(ShipOrder(oid))
            else:
                commands.append(CancelOrder(oid, "changed my mind"))
    return commands


def run_commands(store: EventStore, commands: list[Command]) -> tuple[int, int]:
    """Handle each command; return (accepted, rejected)."""
    handler = CommandHandler(store)
    accepted = rejected = 0
    for command in commands:
        try:
            handler.handle(command)
            accepted += 1
        except CommandRejected:
            rejected += 1
    return accepted, rejected
