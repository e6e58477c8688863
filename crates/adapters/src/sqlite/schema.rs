// Written to match migrations/; `diesel print-schema` (see diesel.toml) regenerates it.

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        name -> Nullable<Text>,
        status_text -> Nullable<Text>,
        roles -> Text,
        services -> Text,
        password_bcrypt -> Nullable<Text>,
        active -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        language -> Nullable<Text>,
    }
}

diesel::table! {
    user_second_factors (user_id) {
        user_id -> Text,
        totp_secret -> Nullable<Text>,
        totp_backup_codes -> Text,
        totp_backup_used -> Text,
        totp_last_step -> Nullable<BigInt>,
        email2fa_enabled -> Bool,
        email_code_hash -> Nullable<Text>,
        email_code_expires_at -> Nullable<BigInt>,
        email_code_attempts -> Integer,
    }
}

diesel::table! {
    user_emails (user_id, position) {
        user_id -> Text,
        position -> Integer,
        address -> Text,
        address_lower -> Text,
        verified -> Bool,
    }
}

diesel::table! {
    login_tokens (hashed_token) {
        hashed_token -> Text,
        user_id -> Text,
        created_at -> BigInt,
        imported -> Bool,
    }
}

diesel::table! {
    rooms (id) {
        id -> Text,
        room_type -> Text,
        name -> Nullable<Text>,
        fname -> Nullable<Text>,
        member_ids -> Nullable<Text>,
        team_main -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Text,
        user_id -> Text,
        room_id -> Text,
        room_type -> Text,
        name -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        room_id -> Text,
        ts -> BigInt,
        user_id -> Nullable<Text>,
        username -> Nullable<Text>,
        msg -> Text,
        message_type -> Nullable<Text>,
        thread_id -> Nullable<Text>,
        file_id -> Nullable<Text>,
        attachments -> Nullable<Text>,
        updated_at -> BigInt,
        edited_at -> Nullable<BigInt>,
        edited_by -> Nullable<Text>,
        reactions -> Nullable<Text>,
        thread_ts -> Nullable<BigInt>,
    }
}

diesel::table! {
    uploads (id) {
        id -> Text,
        room_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        name -> Text,
        content_type -> Nullable<Text>,
        size -> BigInt,
        blob_path -> Nullable<Text>,
        uploaded_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    avatars (id) {
        id -> Text,
        username -> Text,
        user_id -> Nullable<Text>,
        content_type -> Nullable<Text>,
        size -> BigInt,
        blob_path -> Nullable<Text>,
        uploaded_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    export_operations (id) {
        id -> Text,
        user_id -> Text,
        full_export -> Bool,
        status -> Text,
        archive_key -> Nullable<Text>,
        file_id -> Nullable<Text>,
        failure_reason -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        cutoff_at -> Nullable<BigInt>,
        attempts -> Integer,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        requested_by -> Text,
    }
}

diesel::table! {
    export_rooms (operation_id, position) {
        operation_id -> Text,
        position -> Integer,
        room_id -> Text,
        room_name -> Text,
        user_id -> Nullable<Text>,
        exported_count -> BigInt,
        status -> Text,
        room_type -> Text,
        target_file -> Text,
        total -> BigInt,
        cursor_ts -> Nullable<BigInt>,
        cursor_id -> Nullable<Text>,
        file_length -> BigInt,
        page_state -> Text,
    }
}

diesel::table! {
    export_pages (operation_id, position, page) {
        operation_id -> Text,
        position -> Integer,
        page -> Integer,
        first_ts -> BigInt,
        first_id -> Text,
        first_byte -> BigInt,
    }
}

diesel::table! {
    export_pseudonyms (operation_id, username) {
        operation_id -> Text,
        username -> Text,
        alias -> Text,
    }
}

diesel::table! {
    export_files (operation_id, file_id) {
        operation_id -> Text,
        file_id -> Text,
        name -> Text,
        asset -> Text,
    }
}

diesel::table! {
    user_data_files (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        size -> BigInt,
        sha256 -> Text,
        archive_key -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        removed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    export_notices (operation_id) {
        operation_id -> Text,
        status -> Text,
        attempts -> Integer,
        due_at -> Nullable<BigInt>,
        sent_at -> Nullable<BigInt>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    downloads (id) {
        id -> Integer,
        file_id -> Text,
        user_id -> Text,
        at -> BigInt,
        bytes -> BigInt,
        client_address -> Nullable<Text>,
        by_link -> Bool,
    }
}

diesel::table! {
    login_failures (scope, subject) {
        scope -> Text,
        subject -> Text,
        failures -> Integer,
        last_failure_at -> BigInt,
    }
}

diesel::table! {
    worker_instances (id) {
        id -> Text,
        host -> Text,
        pid -> BigInt,
        started_at -> BigInt,
        heartbeat_at -> BigInt,
        dead_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(user_emails -> users (user_id));
diesel::joinable!(user_second_factors -> users (user_id));
diesel::joinable!(login_tokens -> users (user_id));
diesel::joinable!(export_rooms -> export_operations (operation_id));
diesel::joinable!(export_pseudonyms -> export_operations (operation_id));
diesel::joinable!(export_files -> export_operations (operation_id));
diesel::joinable!(export_notices -> export_operations (operation_id));

diesel::table! {
    sync_marks (collection) {
        collection -> Text,
        newest -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    user_second_factors,
    user_emails,
    login_tokens,
    rooms,
    subscriptions,
    messages,
    uploads,
    avatars,
    export_operations,
    export_rooms,
    export_pages,
    export_pseudonyms,
    export_files,
    user_data_files,
    export_notices,
    downloads,
    login_failures,
    sync_marks,
    worker_instances,
);
