//! Configuration (DESIGN.md section 4). Work in progress.
