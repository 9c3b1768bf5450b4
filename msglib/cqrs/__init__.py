"""CQRS: commands change the event store; projections fold its events into read models; queries read those.

    handler = CommandHandler(store)
    result = handler.handle(PlaceOrder("o1", "ada", ({"sku": "pen", "qty": 2, "price": 150},)))
    runner = ProjectionRunner(store, OrderSummaries(), "read.db"); runner.catch_up()
    OrderQueries(runner.conn).order("o1", min_position=result.last_position)
"""
from msglib.cqrs.commands import (CancelOrder, CloseAccount, Command, CommandHandler, CommandRejected, Deposit,
                                  OpenAccount, PayOrder, PlaceOrder, ShipOrder, Withdraw, append_with_retry)
from msglib.cqrs.projection import (FaultyConnection, Killed, Lag, Projection, ProjectionRunner,
                                    ReadYourWritesTimeout, process_batch, read_checkpoint, save_checkpoint,
                                    wait_for_position)
from msglib.cqrs.read_models import AccountBalances, OrderQueries, OrderSummaries, UserStats

__all__ = [
    "AccountBalances", "CancelOrder", "CloseAccount", "Command", "CommandHandler", "CommandRejected", "Deposit",
    "FaultyConnection", "Killed", "Lag", "OpenAccount", "OrderQueries", "OrderSummaries", "PayOrder",
    "PlaceOrder", "Projection", "ProjectionRunner", "ReadYourWritesTimeout", "ShipOrder", "UserStats", "Withdraw",
    "append_with_retry", "process_batch", "read_checkpoint", "save_checkpoint", "wait_for_position",
]
