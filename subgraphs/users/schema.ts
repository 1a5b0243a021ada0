import { loadTypeDefs } from '../../platform/service.js';

export const typeDefs = loadTypeDefs('users');
