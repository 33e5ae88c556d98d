//! Task colours as plain RGB, shared by the GUI theme and the PNG plots so a task has the same
//! colour everywhere. The Okabe–Ito palette, which stays distinguishable for colour-blind
//! viewers and on a projector.

/// Colours for tasks 0, 1, 2, … (repeats after the last).
pub const TASK_COLOURS: [[u8; 3]; 7] = [
    [230, 159, 0],
    [86, 180, 233],
    [0, 158, 115],
    [213, 94, 0],
    [204, 121, 167],
    [0, 114, 178],
    [240, 228, 66],
];

/// The colour of task `k`.
pub fn task_colour(k: usize) -> [u8; 3] {
    TASK_COLOURS[k % TASK_COLOURS.len()]
}
