//! The centre tabs' keys, in the tab bar's order: what settings, experiment files, share
//! codes and hidden-control lists name a tab by. A leaf, so that what only checks a key need
//! not depend on the tabs themselves ([`super::TABS`] is checked against it).

/// Every centre tab's key, in the order of [`super::TABS`].
pub const TAB_KEYS: [&str; 9] = [
    "Charts",
    "Metrics",
    "Dataset",
    "Affinity",
    "Network",
    "Boundaries",
    "Tradeoffs",
    "Landscape",
    "Gradients",
];
