//! What `probe` reports for each layer.

use serde::{Deserialize, Serialize};

use crate::error::Layer;

/// Whether one layer can be set up on this machine, and why (not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStatus {
    /// The layer.
    pub layer: Layer,
    /// True when the layer works here.
    pub available: bool,
    /// What works, or why not (with a hint when one is known).
    pub detail: String,
}

impl LayerStatus {
    #[allow(dead_code)] // used on Linux only
    pub(crate) fn yes(layer: Layer, detail: String) -> LayerStatus {
        LayerStatus {
            layer,
            available: true,
            detail,
        }
    }

    #[allow(dead_code)] // used on Linux only
    pub(crate) fn no(layer: Layer, detail: String) -> LayerStatus {
        LayerStatus {
            layer,
            available: false,
            detail,
        }
    }

    #[allow(dead_code)] // used off Linux only
    pub(crate) fn no_platform() -> LayerStatus {
        LayerStatus {
            layer: Layer::Helper,
            available: false,
            detail: format!(
                "the native Linux sandbox does not exist on {}",
                std::env::consts::OS
            ),
        }
    }
}
