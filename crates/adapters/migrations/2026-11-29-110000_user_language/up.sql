-- The user's Rocket.Chat language preference (`de`, `pt-BR`), for the mails they get.
ALTER TABLE users ADD COLUMN language TEXT;
