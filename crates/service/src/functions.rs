//! The function code both hosts call: one entry point per queue-triggered
//! function, returning whether the message is done, worth a retry, or
//! poison.

use tracing::error;

use crate::host::listener::InvocationFailure;
use crate::processing::{CommandProcessor, ProcessingError};
use crate::projection::{ProjectionError, Projector};

/// Function name of the commands-queue trigger (its folder under `functions/`).
pub const PROCESS_COMMAND: &str = "ProcessCommand";
/// Function name of the domain-events-queue trigger.
pub const PROJECT_EVENTS: &str = "ProjectEvents";

/// The queue-triggered functions of the app.
#[derive(Clone)]
pub struct Functions {
    processor: CommandProcessor,
    projector: Projector,
}

impl Functions {
    /// Bundles the command processor and the projector.
    pub fn new(processor: CommandProcessor, projector: Projector) -> Self {
        Self {
            processor,
            projector,
        }
    }

    /// Handles one commands-queue message.
    ///
    /// # Errors
    /// [`InvocationFailure::Poison`] for a message that can never succeed,
    /// [`InvocationFailure::Retry`] for infrastructure failures.
    pub async fn process_command(&self, text: &str) -> Result<(), InvocationFailure> {
        match self.processor.process(text).await {
            Ok(_) => Ok(()),
            Err(ProcessingError::Malformed(error)) => {
                Err(InvocationFailure::Poison(error.to_string()))
            }
            Err(error) => {
                error!(error = %error, "command processing failed");
                Err(InvocationFailure::Retry(error.to_string()))
            }
        }
    }

    /// Handles one domain-events-queue message.
    ///
    /// # Errors
    /// [`InvocationFailure::Poison`] for a message that can never succeed,
    /// [`InvocationFailure::Retry`] for infrastructure failures.
    pub async fn project_events(&self, text: &str) -> Result<(), InvocationFailure> {
        match self.projector.project(text).await {
            Ok(_) => Ok(()),
            Err(ProjectionError::Malformed(reason)) => Err(InvocationFailure::Poison(reason)),
            Err(error) => {
                error!(error = %error, "projection failed");
                Err(InvocationFailure::Retry(error.to_string()))
            }
        }
    }

    /// Dispatches by function name; `None` for an unknown function.
    pub async fn invoke(
        &self,
        function_name: &str,
        text: &str,
    ) -> Option<Result<(), InvocationFailure>> {
        match function_name {
            PROCESS_COMMAND => Some(self.process_command(text).await),
            PROJECT_EVENTS => Some(self.project_events(text).await),
            _ => None,
        }
    }
}
