//! The tables, as diesel sees them; both backends share this shape.
//!
//! Written by hand to match `migrations/{sqlite,postgres}`: change both together. Times are
//! nanoseconds since the Unix epoch, like drive-core's `Timestamp`, in `BIGINT` columns
//! (`INTEGER` in SQLite's strict tables, which is the same 64 bits).

diesel::table! {
    bots (name) {
        name -> Text,
        first_seen -> BigInt,
    }
}

diesel::table! {
    file_state (bot, key) {
        bot -> Text,
        key -> Text,
        kind -> Text,
        etag -> Nullable<Text>,
        size -> BigInt,
        last_modified -> Nullable<BigInt>,
        content_hash -> Nullable<Text>,
        live_etag -> Nullable<Text>,
        live_size -> Nullable<BigInt>,
        live_last_modified -> Nullable<BigInt>,
        live_content_hash -> Nullable<Text>,
        status -> Text,
        attempts -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        next_retry -> Nullable<BigInt>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    settings (bot, name) {
        bot -> Text,
        name -> Text,
        value -> Text,
        source_key -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    prompts (bot, source_key) {
        bot -> Text,
        source_key -> Text,
        text -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    scripts (bot, key) {
        bot -> Text,
        key -> Text,
        live_hash -> Nullable<Text>,
        tree -> Nullable<Text>,
        warnings -> Nullable<Text>,
        tool_name -> Nullable<Text>,
        tool_openai -> Nullable<Text>,
        tool_mcp -> Nullable<Text>,
        manifest -> Nullable<Text>,
        schedules -> Nullable<Text>,
        webhooks -> Nullable<Text>,
        failed_hash -> Nullable<Text>,
        failure -> Nullable<Text>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    theme_assets (bot, path) {
        bot -> Text,
        path -> Text,
        source_key -> Text,
        content_hash -> Text,
        size -> BigInt,
        content -> Binary,
        updated_at -> BigInt,
    }
}

diesel::joinable!(file_state -> bots (bot));
diesel::allow_tables_to_appear_in_same_query!(bots, file_state, settings, prompts, scripts);

/// Returns the `SET` list of an upsert that overwrites every column but the primary key of
/// `table` with the row that was refused (`excluded`).
macro_rules! set_columns_from_excluded {
    (file_state) => {
        $crate::schema::set_from_excluded!(file_state: kind, etag, size, last_modified,
            content_hash, live_etag, live_size, live_last_modified, live_content_hash, status,
            attempts, last_error, next_retry, updated_at)
    };
    (settings) => {
        $crate::schema::set_from_excluded!(settings: value, source_key, updated_at)
    };
    (prompts) => {
        $crate::schema::set_from_excluded!(prompts: text, updated_at)
    };
    (scripts) => {
        $crate::schema::set_from_excluded!(scripts: live_hash, tree, warnings, tool_name,
            tool_openai, tool_mcp, manifest, schedules, webhooks, failed_hash, failure,
            updated_at)
    };
}

macro_rules! set_from_excluded {
    ($table:ident: $($column:ident),+ $(,)?) => {
        ($($table::$column.eq(diesel::upsert::excluded($table::$column)),)+)
    };
}

pub(crate) use {set_columns_from_excluded, set_from_excluded};
