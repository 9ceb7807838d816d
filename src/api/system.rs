use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::domain::ErrorCode;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness and database check.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = super::error::Problem)))]
#[tracing::instrument(skip_all)]
pub async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state.db.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "health check: database does not answer");
        ApiError::new(
            ErrorCode::DatabaseUnavailable,
            "the database does not answer",
        )
    })?;
    Ok(Json(Health { status: "ok" }))
}
