CREATE TABLE "chat_buttons" (
	"key" text PRIMARY KEY NOT NULL,
	"command" text NOT NULL,
	"at" timestamp with time zone NOT NULL
);
