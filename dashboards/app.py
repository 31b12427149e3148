"""BDNF ELISA QC dashboards: a login, then one page per workflow (st.navigation), limited to the user's role."""

from __future__ import annotations

import streamlit as st

from dashboards import auth

st.set_page_config(page_title="BDNF ELISA QC", layout="wide")

PAGES = {
    "Plates": [
        ("overview", st.Page("pages/overview.py", title="Overview", url_path="overview", default=True)),
        ("upload", st.Page("pages/upload.py", title="Upload", url_path="upload")),
        ("review", st.Page("pages/review.py", title="Plate review", url_path="review")),
        ("worklist", st.Page("pages/worklist.py", title="Worklist", url_path="worklist")),
        ("runqc", st.Page("pages/runqc.py", title="Run QC", url_path="runqc")),
    ],
    "Study": [
        ("cohort", st.Page("pages/cohort.py", title="Cohort", url_path="cohort")),
        ("batch", st.Page("pages/batch.py", title="Batch effects", url_path="batch")),
        ("export", st.Page("pages/export.py", title="Export", url_path="export")),
    ],
    "Records": [
        ("audit", st.Page("pages/audit.py", title="Audit", url_path="audit")),
    ],
}
user = auth.refreshed_user()
if user is None:  # nobody logged in: the login page is the only page
    st.navigation([st.Page(auth.login_page, title="Log in", url_path="login")], position="hidden").run()
else:  # each page starts with auth.guard(page): the role check and the sidebar with the logout button
    st.navigation(auth.pages_for(user, PAGES)).run()
