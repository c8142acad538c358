"""Creators' content and the feed."""

from __future__ import annotations

from flask_smorest import Blueprint

from servicekit.pagination import PageArgsSchema

from ..domain.errors import NotFound
from ..store import contents
from .common import BEARER, authenticated, caller, keyset, paginate, problems
from .context import ctx
from .schemas import ContentCreateSchema, ContentSchema, FeedPageSchema

blp = Blueprint("contents", __name__, url_prefix="/api/v1", description="Content and feed.")


@blp.route("/contents", methods=["POST"])
@authenticated("creator")
@blp.doc(security=BEARER)
@blp.arguments(
    ContentCreateSchema(),
    example={
        "kind": "live",
        "title": "Live Jumat Berkah: diskon batik",
        "media_url": "https://live.example.com/streams/abc.m3u8",
        "product_ids": ["3f1c9a52-6d0e-4a57-9d0b-1b2f0a8e7c11"],
    },
)
@blp.response(201, ContentSchema)
@problems(blp, 401, 403, 422)
def create_content(body):
    """Post a video or live session tagging 1-20 products for sale (creators only)."""
    return contents.create_content(
        ctx().database,
        creator_id=caller("creator").account_id,
        kind=body["kind"],
        title=body["title"],
        media_url=body["media_url"],
        product_ids=[str(p) for p in body["product_ids"]],
    )


@blp.route("/contents/<uuid:content_id>", methods=["GET"])
@blp.response(200, ContentSchema)
@problems(blp, 404)
def get_content(content_id):
    """One video or live session with its tagged products."""
    content = contents.get_content(ctx().database, str(content_id))
    if content is None:
        raise NotFound("No such content.")
    return content


@blp.route("/feed", methods=["GET"])
@blp.arguments(PageArgsSchema(), location="query")
@blp.response(200, FeedPageSchema)
@problems(blp, 422)
def feed(args):
    """Content newest first, with each tagged product's price and availability."""
    return paginate(contents.feed(ctx().database, keyset(args)), args["limit"])
