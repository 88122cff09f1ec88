//! Review and land (docs/review.md): what each environment changed, where
//! environments clash, and bringing their work back — all on data the host
//! reads through a [`shadow::Shadow`] or fetched into refs of its own.

pub mod apply;
pub mod checkpoint;
pub mod conflicts;
pub mod diff;
pub mod land;
pub mod shadow;

pub use diff::{Captured, ChangeSummary, DiffFormat, FileChange};
pub use shadow::Shadow;
