"""Demo data: `python -m storefront_service seed` (idempotent: a second run changes nothing).

Accounts (password `etalase-demo` for all): buyer@, seller@, seller2@, seller3@, creator@,
creator2@ and admin@etalase.test. Admin accounts exist only through this seed.
"""

from __future__ import annotations

import uuid

from servicekit.db import Database

from .identity import hash_password
from .store import demo

DEMO_PASSWORD = "etalase-demo"
_NAMESPACE = uuid.UUID("5b0c7f1e-2f55-4f5e-9c1a-6e7461736501")


def _id(kind: str, key: str) -> str:
    """Stable ids, so reruns recognise their own rows and tests can name demo data."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{key}"))


def _img(slug: str) -> list[str]:
    return [f"/static/img/products/{slug}.jpg"]


ACCOUNTS = [
    {"email": "buyer@etalase.test", "name": "Rina Anggraini", "role": "buyer"},
    {"email": "seller@etalase.test", "name": "Budi Santoso", "role": "seller"},
    {"email": "seller2@etalase.test", "name": "Dewi Lestari", "role": "seller"},
    {"email": "seller3@etalase.test", "name": "Ina Wowor", "role": "seller"},
    {"email": "creator@etalase.test", "name": "Nadia Putri", "role": "creator"},
    {"email": "creator2@etalase.test", "name": "Raka Aditya", "role": "creator"},
    {"email": "admin@etalase.test", "name": "Admin Etalase", "role": "admin"},
]
for _account in ACCOUNTS:
    _account["id"] = _id("account", _account["email"])
    _account["password"] = DEMO_PASSWORD

SHOPS = [
    {
        "key": "batik-lestari",
        "owner": "seller@etalase.test",
        "name": "Batik Lestari Solo",
        "description": "Batik tulis dan cap dari pengrajin Laweyan, Solo, sejak 1998.",
        "city": "Surakarta",
        "age_days": 30,
    },
    {
        "key": "kopi-nusantara",
        "owner": "seller2@etalase.test",
        "name": "Kopi Nusantara Gayo",
        "description": "Kopi specialty langsung dari petani Gayo, Toraja dan Kintamani.",
        "city": "Takengon",
        "age_days": 25,
    },
    {
        "key": "dapur-mama-ina",
        "owner": "seller3@etalase.test",
        "name": "Dapur Mama Ina",
        "description": "Sambal, camilan dan kue rumahan khas Manado dan Nusantara.",
        "city": "Manado",
        "age_days": 20,
    },
]
for _shop in SHOPS:
    _shop["id"] = _id("shop", _shop["key"])

PRODUCTS = [
    # Batik Lestari Solo
    {"slug": "kemeja-batik-parang", "shop": "batik-lestari", "price": 185000, "stock": 40,
     "title": "Kemeja Batik Parang Lengan Panjang",
     "description": "Kemeja batik cap motif Parang, katun primisima adem, tersedia ukuran "
                    "M, L, XL. Cocok untuk kerja maupun kondangan."},
    {"slug": "kain-batik-tulis-sogan", "shop": "batik-lestari", "price": 450000, "stock": 12,
     "title": "Kain Batik Tulis Sogan 2 Meter",
     "description": "Batik tulis tangan pewarna alam soga, dikerjakan sekitar tiga minggu. "
                    "Panjang 2 meter, lebar 115 cm."},
    {"slug": "dress-batik-kawung", "shop": "batik-lestari", "price": 235000, "stock": 30,
     "title": "Dress Batik Kawung Modern",
     "description": "Dress midi motif Kawung dengan potongan modern, bahan katun rayon "
                    "jatuh, resleting belakang."},
    {"slug": "masker-batik-isi-3", "shop": "batik-lestari", "price": 45000, "stock": 100,
     "title": "Masker Kain Batik isi 3",
     "description": "Masker kain tiga lapis motif batik acak, bisa dicuci ulang."},
    # Kopi Nusantara Gayo
    {"slug": "kopi-arabika-gayo", "shop": "kopi-nusantara", "price": 95000, "stock": 60,
     "title": "Kopi Arabika Gayo 250 g Biji Sangrai",
     "description": "Arabika Gayo proses full wash, roasting medium. Catatan rasa jeruk, "
                    "karamel dan cokelat."},
    {"slug": "kopi-toraja-kalosi", "shop": "kopi-nusantara", "price": 89000, "stock": 50,
     "title": "Kopi Toraja Kalosi 250 g Bubuk",
     "description": "Kopi Toraja Kalosi digiling sedang, cocok untuk tubruk dan french "
                    "press. Body tebal, aroma rempah."},
    {"slug": "paket-v60-kintamani", "shop": "kopi-nusantara", "price": 320000, "stock": 15,
     "title": "Paket Manual Brew V60 dan Kopi Kintamani",
     "description": "Dripper V60 keramik, 40 lembar kertas filter dan 200 g Arabika "
                    "Kintamani natural. Hadiah pas untuk pemula."},
    {"slug": "gula-aren-cair", "shop": "kopi-nusantara", "price": 38000, "stock": 80,
     "title": "Gula Aren Cair 500 ml",
     "description": "Gula aren murni dari Banten untuk es kopi susu kekinian di rumah."},
    # Dapur Mama Ina
    {"slug": "sambal-roa", "shop": "dapur-mama-ina", "price": 55000, "stock": 70,
     "title": "Sambal Roa Asli Manado 200 g",
     "description": "Ikan roa asap disuwir, cabai rawit dan bawang, dimasak tanpa pengawet. "
                    "Pedasnya nendang."},
    {"slug": "keripik-tempe", "shop": "dapur-mama-ina", "price": 25000, "stock": 90,
     "title": "Keripik Tempe Sagu 250 g",
     "description": "Keripik tempe tipis renyah bumbu bawang daun, camilan teman ngopi."},
    {"slug": "rendang-sapi", "shop": "dapur-mama-ina", "price": 150000, "stock": 20,
     "title": "Rendang Daging Sapi 500 g",
     "description": "Rendang dimasak delapan jam dengan santan dan rempah lengkap, dikemas "
                    "vakum, tahan dua minggu di kulkas."},
    {"slug": "lapis-legit", "shop": "dapur-mama-ina", "price": 275000, "stock": 10,
     "title": "Kue Lapis Legit Original 20x20 cm",
     "description": "Lapis legit wisman butter, 18 lapis, harum kayu manis dan cengkih. "
                    "Dipanggang sesuai pesanan."},
]
# Commission offered to creators (basis points), so the feed's content earns something.
COMMISSION_RATES_BPS = {
    "kemeja-batik-parang": 1000,
    "kain-batik-tulis-sogan": 800,
    "dress-batik-kawung": 1200,
    "kopi-arabika-gayo": 1500,
    "paket-v60-kintamani": 1000,
    "sambal-roa": 2000,
    "lapis-legit": 500,
}
for _age, _product in enumerate(PRODUCTS):
    _product["id"] = _id("product", _product["slug"])
    _product["commission_rate_bps"] = COMMISSION_RATES_BPS.get(_product["slug"], 0)
    _product["images"] = _img(_product["slug"])
    _product["age_hours"] = 24 * 14 - _age  # created over the last two weeks, in order

_P = {p["slug"]: p["id"] for p in PRODUCTS}

CONTENTS = [
    {"key": "ootd-batik-kantor", "creator": "creator@etalase.test", "kind": "video",
     "title": "OOTD batik ke kantor, seminggu lima gaya", "age_hours": 72,
     "products": ["kemeja-batik-parang", "dress-batik-kawung", "masker-batik-isi-3"]},
    {"key": "live-jumat-batik", "creator": "creator@etalase.test", "kind": "live",
     "title": "Live Jumat Batik: kenalan dengan batik tulis sogan", "age_hours": 48,
     "products": ["kain-batik-tulis-sogan", "kemeja-batik-parang"]},
    {"key": "review-kopi-gayo", "creator": "creator2@etalase.test", "kind": "video",
     "title": "Review jujur: Arabika Gayo vs Toraja Kalosi", "age_hours": 40,
     "products": ["kopi-arabika-gayo", "kopi-toraja-kalosi"]},
    {"key": "es-kopi-susu-aren", "creator": "creator2@etalase.test", "kind": "video",
     "title": "Bikin es kopi susu gula aren ala kafe, modal 20 ribu", "age_hours": 30,
     "products": ["gula-aren-cair", "kopi-arabika-gayo", "paket-v60-kintamani"]},
    {"key": "live-manual-brew", "creator": "creator2@etalase.test", "kind": "live",
     "title": "Live seduh manual V60 untuk pemula, tanya apa saja", "age_hours": 20,
     "products": ["paket-v60-kintamani", "kopi-arabika-gayo"]},
    {"key": "mukbang-sambal-roa", "creator": "creator@etalase.test", "kind": "video",
     "title": "Mukbang nasi hangat + sambal roa, level pedas 10", "age_hours": 12,
     "products": ["sambal-roa", "keripik-tempe"]},
    {"key": "hampers-lebaran", "creator": "creator@etalase.test", "kind": "live",
     "title": "Live racik hampers Lebaran: lapis legit, rendang, kopi", "age_hours": 5,
     "products": ["lapis-legit", "rendang-sapi", "kopi-toraja-kalosi", "kain-batik-tulis-sogan"]},
    {"key": "camilan-wfh", "creator": "creator2@etalase.test", "kind": "video",
     "title": "Camilan WFH anti ngantuk di bawah 100 ribu", "age_hours": 2,
     "products": ["keripik-tempe", "sambal-roa", "gula-aren-cair"]},
]
for _content in CONTENTS:
    _content["id"] = _id("content", _content["key"])
    _content["products"] = [_P[slug] for slug in _content["products"]]
    _content["media_url"] = (
        f"https://live.etalase.test/streams/{_content['key']}.m3u8"
        if _content["kind"] == "live"
        else f"https://media.etalase.test/videos/{_content['key']}.mp4"
    )


def seed(db: Database) -> dict:
    """Load the demo data; returns how many rows of each kind were new."""
    return demo.load(
        db,
        accounts=ACCOUNTS,
        shops=SHOPS,
        products=PRODUCTS,
        contents=CONTENTS,
        hash_password=hash_password,
    )
