"""`Annotated` dependencies that make up the services' vocabulary."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.db import Database, MongoClient


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_mongo_client(request: Request) -> MongoClient:
    client: MongoClient = request.app.state.mongo_client
    return client


Db = Annotated[Database, Depends(get_db)]
Mongo = Annotated[MongoClient, Depends(get_mongo_client)]
