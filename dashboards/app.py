"""BDNF ELISA QC dashboards: one page per workflow (st.navigation), acting as the name given in the sidebar."""

from __future__ import annotations

import streamlit as st

from dashboards import auth

st.set_page_config(page_title="BDNF ELISA QC", layout="wide")

auth.identity_sidebar()  # seam: replace with a login (accounts, roles) in dashboards/auth.py
PAGES = {
    "Plates": [
        st.Page("pages/overview.py", title="Overview", url_path="overview", default=True),
        st.Page("pages/upload.py", title="Upload", url_path="upload"),
        st.Page("pages/review.py", title="Plate review", url_path="review"),
        st.Page("pages/worklist.py", title="Worklist", url_path="worklist"),
    ],
    "Study": [
        st.Page("pages/cohort.py", title="Cohort", url_path="cohort"),
        st.Page("pages/export.py", title="Export", url_path="export"),
    ],
    "Records": [
        st.Page("pages/audit.py", title="Audit", url_path="audit"),
    ],
}
st.navigation(auth.pages_for(auth.current_user(), PAGES)).run()
