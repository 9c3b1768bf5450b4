"""Known-wrong share-partition record state machines (module 09, share groups): the checks must reject each.

Each entry replaces the exercise's solution cell (``share_transition``); the names it uses (InFlightRecord,
RecordState, the event names) come from the notebook's locked cell.
"""

_HEAD = "def share_transition(record, event, member, limit):\n"

_CORRECT_TAIL = '''
    if record.state is not RecordState.ACQUIRED or record.member != member:
        return record
    if event == "accept":
        return record.with_(state=RecordState.ACKNOWLEDGED, member=None)
    if event == "reject":
        return record.with_(state=RecordState.ARCHIVED, member=None)
    done = record.delivery_count >= limit
    return record.with_(state=RecordState.ARCHIVED if done else RecordState.AVAILABLE, member=None)
'''

_ACQUIRE = '''
    if event == "acquire":
        if record.state is not RecordState.AVAILABLE:
            return record
        return record.with_(state=RecordState.ACQUIRED, delivery_count=record.delivery_count + 1, member=member)
'''

WRONG = {
    "09-share_transition": [
        ("accepts a late acknowledgement: no check that the acknowledging member still holds the lock",
         _HEAD + _ACQUIRE + '''
    if record.state is not RecordState.ACQUIRED:
        return record
    if event == "accept":
        return record.with_(state=RecordState.ACKNOWLEDGED, member=None)
    if event == "reject":
        return record.with_(state=RecordState.ARCHIVED, member=None)
    done = record.delivery_count >= limit
    return record.with_(state=RecordState.ARCHIVED if done else RecordState.AVAILABLE, member=None)
'''),
        ("off by one: archives when the count reaches limit - 1, one delivery attempt too few",
         _HEAD + _ACQUIRE + _CORRECT_TAIL.replace("record.delivery_count >= limit",
                                                  "record.delivery_count >= limit - 1")),
        ("never archives on the limit: a poison record is redelivered for ever (the delivery count passes the limit)",
         _HEAD + _ACQUIRE + _CORRECT_TAIL.replace("done = record.delivery_count >= limit", "done = False")),
        ("acquire does not count the delivery: the limit is never reached",
         _HEAD + _ACQUIRE.replace("delivery_count=record.delivery_count + 1", "delivery_count=record.delivery_count")
         + _CORRECT_TAIL),
        ("re-acquires an ACQUIRED record: two consumers hold the same record at once",
         _HEAD + _ACQUIRE.replace("if record.state is not RecordState.AVAILABLE:",
                                  "if record.state.terminal:") + _CORRECT_TAIL),
        ("reject is treated like release: a poison record the consumer rejects is delivered again",
         _HEAD + _ACQUIRE + _CORRECT_TAIL.replace('if event == "reject":', 'if event == "never":')),
        ("lock expiry is ignored: a crashed consumer's records stay ACQUIRED for ever",
         _HEAD + _ACQUIRE + '''
    if event == "lock_expired":
        return record
''' + _CORRECT_TAIL),
    ],
}
