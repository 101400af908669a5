//! `offload plan` (in progress).

use crate::Error;
use crate::cli::PlanCommand;

pub fn main(_cmd: PlanCommand) -> Result<u8, Error> {
    Err(Error::with_code(
        "offload plan is not available in this build yet",
        1,
    ))
}
