"""Word lists scrub reasons with (data only): words that are not names on their own, the
name particles of multi-word surnames, US states, and street suffixes."""

from __future__ import annotations

# fmt: off
# Not names when they stand alone, however often parents choose them: months, days,
# greetings, and the words of agent traffic seen taken for names (product and plan names,
# UI labels).
COMMON_EXTRA = [
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday", "today", "tomorrow", "yesterday", "hi", "hello", "hey", "dear",
    "thanks", "thank", "please", "sorry", "yes", "no", "okay", "ok", "sure", "great", "good",
    "best", "regards", "mode", "data", "plan", "line", "bill", "card", "gift", "credit",
    "paypal", "certificate", "account", "order", "item", "product", "user", "customer", "agent",
    "assistant", "support", "service", "team", "manager", "airline", "flight", "economy",
    "basic", "business", "first", "last", "name", "number", "phone", "email", "address",
    "street", "suite", "city", "state", "zip", "code", "smart", "electric", "wireless", "water",
    "coffee", "garden", "office", "pet", "air", "tea", "wall", "yoga", "running", "hiking",
    "mechanical", "portable", "digital", "gaming", "desk", "action", "indoor", "security",
    "jigsaw", "makeup", "luggage", "patio", "fleece", "cycling", "dumbbell", "vacuum",
    "espresso", "bluetooth", "laptop", "tablet", "grill", "backpack", "bicycle", "notebook",
    "perfume", "sneakers", "sunglasses", "skateboard", "wristwatch", "headphones", "bookshelf",
    "airplane", "roaming", "network", "signal", "mobile", "cellular", "wifi", "speed", "test",
    "status", "reset", "restart", "apn", "sim", "esim", "mms", "sms", "vpn", "lte", "battery",
    "device", "settings", "app", "permission", "storage", "camera", "premium", "unlimited",
    "family", "international", "domestic", "overage", "charge", "fee", "refund", "payment",
    "return", "exchange", "cancel", "modify", "update", "book", "booking", "reservation",
    "baggage", "insurance", "cabin", "dr", "mr", "mrs", "ms", "miss", "sir", "madam", "jr",
    "sr", "ii", "iii", "iv",
    # words that start place names ("Santa Monica", "Fort Worth"), not people's
    "santa", "san", "fort", "mount", "port", "saint", "lake", "north", "south", "east",
    "west", "new", "county",
    # words of system prompts and tool schemas (issue 15: "Customer Lookup", "max 6 months")
    "lookup", "min", "password", "secret", "token", "key", "policy", "usage", "tool",
    "tools", "function", "functions", "parameter", "parameters", "required", "optional",
    "default", "example", "string", "integer", "boolean", "object", "array", "null", "true",
    "false", "id", "ids", "note", "notes", "step", "steps", "rule", "rules", "guideline",
    "guidelines", "instructions", "assumptions", "details", "info", "summary", "overview",
    "profile", "history", "record", "records", "request", "response", "result", "results",
    "error", "warning", "success", "failed", "pending", "active", "inactive", "enabled",
    "disabled", "admin", "login", "logout", "sign", "signup", "search", "query", "filter",
    "sort", "page", "limit", "offset", "total", "count", "amount", "price", "cost", "tax",
    "discount", "coupon", "invoice", "receipt", "ticket", "case", "issue", "priority",
    "escalation", "transfer", "human", "bot", "chat", "message", "messages", "reply", "call",
    "calls", "contact", "contacts", "lead", "leads", "deal", "deals", "subscription",
    "subscriptions", "renewal", "trial", "tier", "upgrade", "downgrade", "billing", "shipping",
    "delivery", "tracking", "warehouse", "inventory", "stock", "sku", "catalog", "category",
    "brand", "model", "size", "color", "colour", "weight", "height", "width", "length",
    "quantity", "unit", "units", "month", "months", "week", "weeks", "day", "days", "year",
    "years", "hour", "hours", "minute", "minutes", "date", "time", "timezone", "schedule",
    "appointment", "meeting", "calendar", "event", "events", "report", "reports", "dashboard",
    "analytics", "metrics", "api", "url", "endpoint", "webhook", "database", "server", "cloud",
    "backup", "restore", "sync", "export", "import", "upload", "download", "file", "files",
    "folder", "document", "documents", "attachment", "image", "video", "audio", "voice",
    "verify", "verification", "identity", "authentication", "authorization", "access", "role",
    "roles", "permission", "permissions", "owner", "member", "members", "guest", "visitor",
    "client", "vendor", "partner", "supplier", "merchant", "store", "shop", "cart", "checkout",
    "wallet", "balance", "transaction", "transactions", "deposit", "withdrawal", "loan",
    "mortgage", "claim", "claims", "policyholder", "coverage", "premium", "deductible",
    "patient", "doctor", "nurse", "clinic", "hospital", "pharmacy", "prescription", "diagnosis",
    "lab", "medical", "health", "dental", "vision", "emergency", "urgent", "important",
    "critical", "high", "low", "medium", "new", "old", "open", "closed", "done", "draft",
    "final", "review", "approve", "approved", "reject", "rejected", "submit", "submitted",
    "confirm", "confirmed", "cancelled", "canceled", "complete", "completed",
]

# Lower-case words that join the parts of one name: "Jan van der Berg", "Vitor da Costa",
# "Bram op den Akker", "Ahmed bin Salem". The one list every part of scrub uses.
PARTICLES = frozenset([
    "de", "da", "das", "do", "dos", "del", "della", "delle", "dei", "degli", "di", "du", "des",
    "van", "von", "vom", "zu", "der", "den", "het", "'t", "ter", "ten", "te", "op", "le", "la",
    "las", "los", "bin", "binti", "ibn", "al", "el", "ben", "y", "e",
])

TITLES = frozenset(["mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam", "jr", "sr", "ii",
                    "iii", "iv"])

US_STATES = frozenset([
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL",
    "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE",
    "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "PR", "RI", "SC", "SD", "TN", "TX",
    "UT", "VA", "VT", "WA", "WI", "WV", "WY",
])

USPS_SUFFIXES = [
    "alley", "aly", "avenue", "ave", "av", "boulevard", "blvd", "bypass", "byp", "causeway",
    "cswy", "center", "ctr", "circle", "cir", "close", "court", "ct", "cove", "cv", "crescent",
    "cres", "crossing", "xing", "drive", "dr", "expressway", "expy", "freeway", "fwy",
    "highway", "hwy", "lane", "ln", "loop", "parkway", "pkwy", "pike", "place", "pl", "plaza",
    "plz", "road", "rd", "route", "rte", "row", "square", "sq", "street", "st", "terrace",
    "ter", "trail", "trl", "turnpike", "tpke", "way", "wy", "walk", "path", "landing", "ridge",
    "heights", "hts", "commons", "grove", "manor", "mews", "point", "pt", "run", "crest",
    "hollow",
]
# fmt: on
