"""Audit: who did what and when (read-only; the trail is append-only)."""

from __future__ import annotations

import json
from datetime import datetime, time

import streamlit as st

from dashboards import auth, data

auth.guard("audit")  # role check; also draws the sidebar with the logout button
st.title("Audit trail")
url = data.database_url()
actors, actions = data.audit_facets(url)
if not actors:
    st.info("No events yet: every upload, mask, refit and review decision will be listed here.")
    st.stop()
cols = st.columns(4)
who = cols[0].multiselect("Actor", actors, key="audit_actors")
what = cols[1].multiselect("Action", actions, key="audit_actions")
since = cols[2].date_input("From", value=None, key="audit_since")
until = cols[3].date_input("Until", value=None, key="audit_until")
limit = st.number_input("Show at most", min_value=10, max_value=10_000, value=500, step=100, key="audit_limit")
events = data.audit_events(
    url,
    tuple(who),
    tuple(what),
    datetime.combine(since, time.min) if since else None,
    datetime.combine(until, time.max) if until else None,
    int(limit),
)
if events.empty:
    st.info("No events match these filters.")
    st.stop()
for column in ("before", "after"):
    events[column] = events[column].map(lambda v: "" if v is None else json.dumps(v, default=str, sort_keys=True))
st.caption(f"{len(events)} event(s), newest first.")
st.dataframe(events, hide_index=True, width="stretch", key="audit_table")
