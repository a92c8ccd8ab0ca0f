"""An acknowledged majority write survives `kill -9` of the embedded database.

Without `--sync-on-commit` (EMBEDDED_MONGODB_SYNC_ON_COMMIT=false) the server acknowledges commits
whose log is still in its memory: measured, every one of 250 such writes was gone after the kill.
"""

from __future__ import annotations

import signal
from pathlib import Path

from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.write_concern import WriteConcern

from devstack.stack import EMBEDDED_DB, Stack
from tests.conftest import stack_settings
from tests.devstack.test_launcher import embedded_only

ROUNDS = 5
DOCUMENTS_PER_ROUND = 50
MAJORITY = WriteConcern("majority")


def write_acknowledged(url: str, round_number: int) -> list[str]:
    """Insert documents one by one, half alone and half in transactions; the ids of those acknowledged."""
    acknowledged: list[str] = []
    with MongoClient[dict[str, object]](url) as client:
        collection = client.get_database("durable", write_concern=MAJORITY).acked
        for index in range(DOCUMENTS_PER_ROUND):
            document_id = f"{round_number}-{index}"
            if index % 2:

                def insert(session: ClientSession, document_id: str = document_id) -> None:
                    collection.insert_one({"_id": document_id}, session=session)

                with client.start_session() as session:
                    session.with_transaction(insert, write_concern=MAJORITY)
            else:
                collection.insert_one({"_id": document_id})
            acknowledged.append(document_id)
    return acknowledged


@embedded_only
def test_acknowledged_majority_writes_survive_a_hard_kill(tmp_path: Path) -> None:
    stack = Stack(stack_settings(tmp_path / "data", mongodb_url=None), log_dir=tmp_path / "logs")
    stack.start_embedded_db()
    try:
        acknowledged: list[str] = []
        for round_number in range(ROUNDS):
            acknowledged += write_acknowledged(stack.mongodb_url, round_number)
            database = stack.processes[EMBEDDED_DB].popen
            database.send_signal(signal.SIGKILL)  # the moment the last acknowledgement arrived
            database.wait()
            stack.respawn(EMBEDDED_DB)  # same command, same storage
            with MongoClient[dict[str, object]](stack.mongodb_url) as client:
                stored = {doc["_id"] for doc in client.durable.acked.find({}, {"_id": 1})}
            missing = sorted(set(acknowledged) - stored)
            assert missing == [], f"round {round_number}: {len(missing)} acknowledged writes lost"
    finally:
        stack.stop()
