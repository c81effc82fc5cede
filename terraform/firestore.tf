# Firestore in native mode: tasks/{id} (+ parts/ when a document outgrows 1 MiB),
# tasks/{id}/events/{auto-id} (one document per event, so a busy task writes new documents and
# never one hot document), feed/{0000..1023} (sharded wake-up documents, watched by one
# on_snapshot query per group `g` of 32: `g` keeps its single-field index),
# leases/{task_id}. See docs/capacity.md for the write rates this layout allows.

resource "google_firestore_database" "errand" {
  name        = "(default)"
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"
  # Transactions (compare-and-set transitions, claims, leases) take locks on what they read.
  concurrency_mode                  = "PESSIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.apis]
}

# read_events: where at >= cursor, order by at, tie — within one task's events ...
resource "google_firestore_index" "events_by_time" {
  database    = google_firestore_database.errand.name
  collection  = "events"
  query_scope = "COLLECTION"
  fields {
    field_path = "at"
    order      = "ASCENDING"
  }
  fields {
    field_path = "tie"
    order      = "ASCENDING"
  }
}

# ... and across tasks (the admin's live view reads every task's events: a collection-group
# query, which needs its own index scope).
resource "google_firestore_index" "all_events_by_time" {
  database    = google_firestore_database.errand.name
  collection  = "events"
  query_scope = "COLLECTION_GROUP"
  fields {
    field_path = "at"
    order      = "ASCENDING"
  }
  fields {
    field_path = "tie"
    order      = "ASCENDING"
  }
}

# list_tasks(owner=...): a user's history, newest first.
resource "google_firestore_index" "tasks_by_owner" {
  database    = google_firestore_database.errand.name
  collection  = "tasks"
  query_scope = "COLLECTION"
  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# Fields never queried get no single-field index entries: large texts (read whole; fewer index
# writes, no 1500-byte truncation work) and the feed shards' commit times. Those only grow, and
# an indexed field whose values only grow caps its collection at 500 writes/s (docs/capacity.md);
# the feed is read by its listeners by group (`g`), never queried by time.
resource "google_firestore_field" "unindexed" {
  for_each = {
    task_text  = { collection = "tasks", field = "text" }
    event_text = { collection = "events", field = "text" }
    part_text  = { collection = "parts", field = "t" }
    lease_doc  = { collection = "leases", field = "doc" }
    feed_at    = { collection = "feed", field = "at" }
    feed_tie   = { collection = "feed", field = "tie" }
  }
  database   = google_firestore_database.errand.name
  collection = each.value.collection
  field      = each.value.field
  index_config {}
}
